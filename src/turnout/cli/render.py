"""Human rendering of a diagnosis: read in two seconds, act on it."""

from __future__ import annotations

from rich.console import Console, Group
from rich.panel import Panel
from rich.text import Text

from turnout.diagnosis import Diagnosis

_LABELS = {
    "en": {
        "retry": "retry",
        "after": "after {s}",
        "failover": "fail over to another path",
        "stop": "stop: the request itself must change",
        "do": "What to do",
        "wont": "What will not help",
        "said": "Provider said",
        "rule": "rule",
    },
    "zh": {
        "retry": "重试",
        "after": "{s} 后",
        "failover": "切换到其他路径",
        "stop": "停止:需要修改请求本身",
        "do": "怎么办",
        "wont": "这些没用",
        "said": "服务商原话",
        "rule": "规则",
    },
}
_COLORS = {True: "yellow", False: "red"}


def decision_text(diagnosis: Diagnosis) -> str:
    """Retry (after N s) / fail over / stop, in the diagnosis' language."""
    labels = _LABELS[diagnosis.lang]
    if diagnosis.retryable:
        text = labels["retry"]
        if diagnosis.retry_after_s is not None:
            text += " " + labels["after"].format(s=_seconds(diagnosis.retry_after_s))
        return f"{text}, {labels['failover']}" if diagnosis.failover else text
    return labels["failover"] if diagnosis.failover else labels["stop"]


def _seconds(value: float) -> str:
    total = round(value)
    if total < 120:
        return f"{value:g}s"
    hours, rest = divmod(total, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


def render_diagnosis(diagnosis: Diagnosis, console: Console | None = None) -> None:
    console = console or Console()
    labels = _LABELS[diagnosis.lang]
    head = Text()
    head.append(f"{diagnosis.category.value}", style="bold")
    head.append(f" / {diagnosis.code}")
    if diagnosis.status is not None:
        head.append(f"  HTTP {diagnosis.status}", style="dim")
    head.append("  →  ")
    head.append(decision_text(diagnosis), style=f"bold {_COLORS[diagnosis.retryable]}")
    parts: list[Text] = [head, Text(""), Text(diagnosis.explanation)]
    if diagnosis.message:
        parts.append(Text(f"{labels['said']}: {diagnosis.message[:300]}", style="dim"))
    parts.append(Text(""))
    parts.append(Text(labels["do"], style="bold green"))
    parts.extend(Text(f"  • {action}") for action in diagnosis.actions)
    if diagnosis.wont_help:
        parts.append(Text(labels["wont"], style="bold red"))
        parts.extend(Text(f"  ✗ {item}") for item in diagnosis.wont_help)
    subtitle = f"{labels['rule']} {diagnosis.rule}" if diagnosis.rule else None
    console.print(Panel(Group(*parts), title=diagnosis.title, subtitle=subtitle, expand=False))
