"""A doctor report as a table a person reads at a glance, or as one JSON object for scripts.

The JSON field names are stable: scripts may rely on them. Neither form ever holds a key:
endpoints are shown without user info or query, and auth only by its kind.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from turnout.doctor.gateway import GatedPath, GatewayState
from turnout.doctor.probe import QUOTA_HEADERS, DoctorReport, PathResult, RouteHealth

#: (quota field for the amount, quota field for its reset, label), in display order.
_QUOTA_LINES = (
    ("requests_remaining", "requests_reset", "requests left"),
    ("tokens_remaining", "tokens_reset", "tokens left"),
)


def gated_note(gated: GatedPath) -> str:
    verb = "gated" if gated.state == "gated" else "cooling down"
    return f"{verb} by the gateway: {gated.category}/{gated.code}, {gated.seconds_left:.0f}s left"


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
        "gateway": _gated_json(gateway.gate_for(plan.path)),
    }


def report_json(report: DoctorReport) -> dict[str, Any]:
    """The whole report; `down` lists the routes without a working path."""
    gateway = report.gateway
    return {
        "config": report.source,
        "paths": [path_json(r, gateway) for r in report.results],
        "routes": {
            name: {"ok": route.ok, "working": list(route.working), "paths": list(route.paths)}
            for name, route in report.routes.items()
        },
        "down": report.down,
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


def _quota_cell(quota: dict[str, str]) -> str:
    lines = []
    for amount, reset, label in _QUOTA_LINES:
        if amount in quota or reset in quota:
            line = f"{label} {quota.get(amount, '?')}"
            lines.append(line + (f", resets {quota[reset]}" if reset in quota else ""))
    return "\n".join(lines)


def _table(report: DoctorReport) -> Table:
    table = Table(title=f"turnout doctor  ({report.source})", show_lines=True)
    # The quota column only when some provider said: on a narrow terminal every column counts.
    with_quota = any(result.quota for result in report.results)
    columns = ("path", "kind", "endpoint", "model", "auth", "HTTP", "ms", "result", "quota")
    for column in columns[: None if with_quota else -1]:
        right = column in ("HTTP", "ms")
        table.add_column(column, justify="right" if right else "left", overflow="fold")
    for result in report.results:
        plan = result.plan
        table.add_row(
            plan.path,
            plan.provider.kind,
            plan.endpoint or "-",
            plan.model,
            plan.auth,
            "-" if result.status is None else str(result.status),
            "-" if result.latency_ms is None else str(result.latency_ms),
            _result_cell(result, report.gateway),
            *([_quota_cell(result.quota)] if with_quota else []),
        )
    return table


def _route_line(report: DoctorReport, route: RouteHealth) -> Text:
    if route.ok:
        return Text(f"route {route.name}: ok via {', '.join(route.working)}", style="green")
    outcomes = {r.plan.path: r for r in report.results}
    reasons = []
    for path in route.paths:
        d = outcomes[path].diagnosis
        reasons.append(f"{path}: {d.category.value}/{d.code}" if d else f"{path}: not probed")
    return Text(f"route {route.name}: DOWN ({'; '.join(reasons)})", style="bold red")


def _summary(report: DoctorReport) -> list[Text]:
    lines = [_route_line(report, route) for route in report.routes.values()]
    gateway = report.gateway
    if gateway.reachable:
        count = len(gateway.paths)
        lines.append(Text(f"gateway {gateway.url}: {count} path(s) gated or cooling"))
    else:
        lines.append(Text(f"gateway {gateway.url}: {gateway.note}", style="dim"))
    if report.down:
        lines.append(Text(f"routes down: {', '.join(report.down)}", style="bold red"))
    elif report.routes:
        lines.append(Text("every route has a working path", style="bold green"))
    else:
        lines.append(Text("no routes to check", style="yellow"))
    return lines


def render_report(report: DoctorReport, console: Console) -> None:
    """The table, then one line per route, the gateway's state and the verdict."""
    console.print(_table(report))
    for line in _summary(report):
        console.print(line)
