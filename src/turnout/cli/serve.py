"""`turnout serve`: the gateway an agent points at."""

from __future__ import annotations

import argparse

from turnout.config.default import find_config
from turnout.config.load import ConfigError
from turnout.config.model import GatewayConfig
from turnout.config.ports import port_problem, providers_at
from turnout.ledger.store import LedgerError
from turnout.runtime.configs import load_for_command

HELP = "run the gateway: OpenAI and Anthropic APIs, routed along fallback chains"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (default 8787)")
    parser.add_argument(
        "--demo",
        action="store_true",
        help="serve a built-in route whose first path is a mock usage gate and whose second "
        "is healthy, to see a failover with one curl",
    )
    parser.add_argument(
        "--log-level", default="info", choices=("debug", "info", "warning", "error")
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="serve from N processes, one per core; gates, rate windows and budgets stay one "
        "view (a state file for this port unless the config names a state store)",
    )


def describe(config: GatewayConfig, host: str, port: int) -> str:
    lines = [f"turnout listening on http://{host}:{port}  (config: {config.source})"]
    if not config.routes:
        lines += [
            "No providers detected: set ANTHROPIC_API_KEY, OPENAI_API_KEY (+OPENAI_BASE_URL), "
            "OPENROUTER_API_KEY or DEEPSEEK_API_KEY, start Ollama or LM Studio, or pass --config.",
            "To see a failover right away: turnout serve --demo",
        ]
    for name, route in config.routes.items():
        lines.append(f"  route {name}: " + " -> ".join(t.path for t in route.targets))
    for name, reasons in config.unavailable.items():
        for reason in reasons:
            lines.append(f"  skipped provider {name}: {reason}")
    lines.append(f"  OpenAI base URL:    http://{host}:{port}/v1")
    lines.append(
        f"  Anthropic base URL: http://{host}:{port}   (Hermes Agent: http://{host}:{port}/anthropic)"
    )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from turnout.cli.main import CommandError
    from turnout.edge.server import is_loopback, serve

    try:
        config = load_for_command(args.config, demo=args.demo)
    except ConfigError as exc:
        raise CommandError(str(exc), exc.hint) from exc
    host = args.host or config.server.host
    port = args.port or config.server.port
    if not is_loopback(host) and not config.server.keys:
        raise CommandError(
            f"refusing to listen on {host} without gateway keys",
            'add server.keys (e.g. keys: ["${TURNOUT_GATEWAY_KEY}"]) to the config, '
            "or use 127.0.0.1",
        )
    if not 1 <= args.workers <= 64:
        raise CommandError(
            f"--workers must be between 1 and 64, not {args.workers}",
            "one per core is the usual choice (os.cpu_count() says how many there are)",
        )
    loops = providers_at(config, host, port)
    if loops:
        urls = ", ".join(f"{name} ({config.providers[name].base_url})" for name in loops)
        raise CommandError(
            f"refusing to serve: {urls} is this gateway's own address {host}:{port}, so every "
            "request would be relayed back to turnout itself",
            "point that provider at the real API; if ANTHROPIC_BASE_URL or OPENAI_BASE_URL is "
            "set to turnout for your agent, unset it in the shell that runs `turnout serve`",
        )
    problem = port_problem(host, port)
    if problem is not None:
        problem.source = config.source
        raise CommandError(str(problem), problem.hint)
    print(describe(config, host, port), flush=True)
    if args.workers > 1:
        state = config.state or "a state file in the data directory"
        print(f"  workers: {args.workers}, sharing state in {state}", flush=True)
    if args.demo:
        body = '{"model":"claude-sonnet-4-6","messages":[{"role":"user","content":"hi"}]}'
        print(
            f"  try: curl -si http://{host}:{port}/v1/chat/completions "
            f"-H 'content-type: application/json' -d '{body}'",
            flush=True,
        )
    path = None if args.demo else find_config(args.config)
    try:
        serve(config, host, port, args.log_level, path, workers=args.workers)
    except LedgerError as exc:
        raise CommandError(str(exc), "check the ledger setting, or set ledger: off") from exc
    return 0
