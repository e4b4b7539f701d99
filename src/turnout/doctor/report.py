"""A doctor report as a table a person reads at a glance, or as one JSON object for scripts.

The JSON field names are stable: scripts may rely on them. Neither form ever holds a key:
endpoints are shown without user info or query, and auth only by its kind.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.console import Console, Group
from rich.measure import Measurement
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from turnout.doctor.gateway import GatedPath, GatewayState
from turnout.doctor.probe import QUOTA_HEADERS, DoctorReport, PathResult, RouteHealth

#: (quota field for the amount, quota field for its reset, label), in display order.
_QUOTA_LINES = (
    ("requests_remaining", "requests_reset", "requests left"),
    ("tokens_remaining", "tokens_reset", "tokens left"),
)


#: Short names of the usage windows, as the providers' own pages call them.
_WINDOW_NAMES = {"five_hour": "5h", "seven_day": "7d", "seven_day_opus": "7d opus",
                 "seven_day_sonnet": "7d sonnet",
                 "seven_day_overage_included": "7d overage incl."}  # fmt: skip


def gated_note(gated: GatedPath) -> str:
    """The gateway's mark: the provider's stated reset and the gateway's probe timer apart."""
    verb = "gated" if gated.state == "gated" else "cooling down"
    note = f"{verb} by the gateway: {gated.category}/{gated.code}"
    if gated.provider_reset_at is not None:
        stamp = datetime.fromtimestamp(gated.provider_reset_at).strftime("%Y-%m-%d %H:%M")
        note += f", the provider says it resets at {stamp}"
    return note + f", next probe in {gated.seconds_left:.0f}s"


def _diagnosis_json(result: PathResult) -> dict[str, Any] | None:
    d = result.diagnosis
    if d is None:
        return None
    return {
        "category": d.category.value,
        "code": d.code,
        "title": d.title,
        "advice": d.actions[0] if d.actions else "",
        "retryable": d.retryable,
        "retry_after_s": d.retry_after_s,
        "rule": d.rule,
    }


def _gated_json(gated: GatedPath | None) -> dict[str, Any] | None:
    if gated is None:
        return None
    return {
        "state": gated.state,
        "category": gated.category,
        "code": gated.code,
        "seconds_left": gated.seconds_left,
        "provider_reset_at": gated.provider_reset_at,
    }


def path_json(result: PathResult, gateway: GatewayState) -> dict[str, Any]:
    plan = result.plan
    return {
        "path": plan.path,
        "provider": plan.provider.name,
        "kind": plan.provider.kind,
        "endpoint": plan.endpoint,
        "model": plan.model,
        "auth": plan.auth,
        "routes": list(plan.routes),
        "ok": result.ok,
        "skipped": plan.skip_reason,
        "status": result.status,
        "latency_ms": result.latency_ms,
        "diagnosis": _diagnosis_json(result),
        "quota": {name: result.quota.get(name) for name in QUOTA_HEADERS},
        "headroom": [w.to_dict() for w in result.headroom],
        "gateway": _gated_json(gateway.gate_for(plan.path)),
    }


def report_json(report: DoctorReport) -> dict[str, Any]:
    """The whole report; `down` lists the routes without a working path."""
    gateway = report.gateway
    return {
        "config": report.source,
        "paths": [path_json(r, gateway) for r in report.results],
        "routes": {
            name: {
                "ok": route.ok,
                "state": route.state,
                "working": list(route.working),
                "answering": list(route.answering),
                "paths": list(route.paths),
            }
            for name, route in report.routes.items()
        },
        "down": report.down,
        "not_probed": report.named("unknown"),
        "unavailable": {name: list(why) for name, why in report.unavailable.items()},
        "gateway": {
            "url": gateway.url,
            "reachable": gateway.reachable,
            "note": gateway.note,
            "paths": [{"path": g.path, **(_gated_json(g) or {})} for g in gateway.paths.values()],
        },
    }


def _result_cell(result: PathResult, gateway: GatewayState) -> Text:
    text = Text()
    if result.plan.skip_reason is not None:
        text.append(f"not probed: {result.plan.skip_reason}", style="dim")
    elif result.diagnosis is None:
        text.append("ok", style="bold green")
    else:
        d = result.diagnosis
        text.append(f"{d.category.value}/{d.code}", style="bold red")
        if d.actions:
            text.append(f"\n{d.actions[0]}")
    gated = gateway.gate_for(result.plan.path)
    if gated is not None:
        text.append(f"\n{gated_note(gated)}", style="yellow")
    return text


def _quota_cell(result: PathResult) -> str:
    """Counted limits as the provider gave them, then the subscription windows' headroom."""
    quota = result.quota
    lines = []
    for amount, reset, label in _QUOTA_LINES:
        if amount in quota or reset in quota:
            line = f"{label} {quota.get(amount, '?')}"
            lines.append(line + (f", resets {quota[reset]}" if reset in quota else ""))
    for window in result.headroom:
        if window.name not in ("requests", "tokens"):  # those are the lines above
            line = f"{_WINDOW_NAMES.get(window.name, window.name)} {window.left:.0%} left"
            if window.warning_at is not None and window.status != "rejected":
                line += f" (past the {window.warning_at:.0%} warning)"
            lines.append(line)
    return "\n".join(lines)


def _table(report: DoctorReport) -> Table:
    """One row per path. The model is the part of the path after the provider and the auth
    kind sits under the kind, so that at 100 columns no word has to break."""
    table = Table(title=f"turnout doctor  ({report.source})", show_lines=True)
    # The quota column only when some provider said: on a narrow terminal every column counts.
    with_quota = any(result.quota or result.headroom for result in report.results)
    columns = ("path", "kind, auth", "endpoint", "HTTP", "ms", "result", "quota")
    for column in columns[: None if with_quota else -1]:
        right = column in ("HTTP", "ms")
        # A path or an endpoint is one word: kept whole, while the prose columns wrap.
        whole = column in ("path", "endpoint")
        table.add_column(
            column, justify="right" if right else "left", overflow="fold", no_wrap=whole
        )
    for result in report.results:
        plan = result.plan
        table.add_row(
            plan.path,
            f"{plan.provider.kind}\n{plan.auth}",
            plan.endpoint or "-",
            "-" if result.status is None else str(result.status),
            "-" if result.latency_ms is None else str(result.latency_ms),
            _result_cell(result, report.gateway),
            *([_quota_cell(result)] if with_quota else []),
        )
    return table


def _route_line(report: DoctorReport, route: RouteHealth) -> Text:
    if route.working:
        return Text(f"route {route.name}: ok via {', '.join(route.working)}", style="green")
    if route.ok:
        providers = ", ".join(route.answering)
        return Text(
            f"route {route.name}: ok, {providers} answered (a pattern: it sends the model "
            "the client asks for)",
            style="green",
        )
    if route.state == "unknown":
        return Text(
            f"route {route.name}: not probed (a pattern, and its providers answered on no "
            "other path)",
            style="yellow",
        )
    outcomes = {r.plan.path: r for r in report.results}
    reasons = []
    for path in route.paths:
        d = outcomes[path].diagnosis
        reasons.append(f"{path}: {d.category.value}/{d.code}" if d else f"{path}: not probed")
    return Text(f"route {route.name}: DOWN ({'; '.join(reasons)})", style="bold red")


def _verdict(report: DoctorReport) -> Text:
    """One line that agrees with the route lines above it, and with the exit status."""
    down, unknown = report.down, report.named("unknown")
    if not report.routes:
        return Text("no routes to check", style="yellow")
    if not report.named("ok"):
        return Text("no route has a working path: nothing can be served", style="bold red")
    if down:
        return Text(f"routes down: {', '.join(down)}; the other routes serve", style="bold red")
    if unknown:
        return Text(
            f"every probed route has a working path; not probed: {', '.join(unknown)}",
            style="yellow",
        )
    return Text("every route has a working path", style="bold green")


def _summary(report: DoctorReport) -> list[Text]:
    lines = [_route_line(report, route) for route in report.routes.values()]
    for name, reasons in report.unavailable.items():
        for reason in reasons:
            lines.append(Text(f"provider {name} skipped: {reason}", style="yellow"))
    gateway = report.gateway
    if gateway.reachable:
        count = len(gateway.paths)
        lines.append(Text(f"gateway {gateway.url}: {count} path(s) gated or cooling"))
    else:
        lines.append(Text(f"gateway {gateway.url}: {gateway.note}", style="dim"))
    lines.append(_verdict(report))
    return lines


def _entries(report: DoctorReport) -> list[Group]:
    """The table's content as one short block per path, for a console too narrow for the
    table to hold its longest words (URLs, diagnosis codes) whole."""
    blocks = []
    for result in report.results:
        plan = result.plan
        first, *more = _result_cell(result, report.gateway).split("\n")
        head = Text(plan.path, style="bold")
        head.append("  ")
        head.append_text(first)
        facts = [plan.provider.kind, plan.auth, plan.endpoint or "-"]
        if result.status is not None:
            facts.append(f"HTTP {result.status}")
        if result.latency_ms is not None:
            facts.append(f"{result.latency_ms} ms")
        lines = [*more, Text(", ".join(facts), style="dim")]
        quota = _quota_cell(result).replace("\n", "; ")
        if quota:
            lines.append(Text(quota))
        blocks.append(Group(head, *(Padding(line, (0, 0, 0, 2), expand=False) for line in lines)))
    return blocks


def render_report(report: DoctorReport, console: Console) -> None:
    """The table (or, on a console too narrow for it, one block per path), then one line per
    route, the gateway's state and the verdict."""
    table = _table(report)
    # Measured without a limit: the table's narrowest form that breaks no word.
    unbounded = console.options.update_width(10_000)
    if Measurement.get(console, unbounded, table).minimum <= console.width:
        console.print(table)
    else:
        console.print(Text(f"turnout doctor  ({report.source})", style="bold"))
        for block in _entries(report):
            console.print(block)
    for line in _summary(report):
        console.print(line)
