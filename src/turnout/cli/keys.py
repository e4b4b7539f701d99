"""`turnout keys create|list|revoke`: gateway keys with routes, budgets and rate limits."""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime

from rich.console import Console
from rich.table import Table

from turnout.access.limits import period_start
from turnout.cli.options import add_config_option
from turnout.config.load import ConfigError
from turnout.ledger.keys import PERIODS, GatewayKey, KeyStore
from turnout.ledger.ledger import default_location
from turnout.ledger.store import LedgerError, LedgerStore, migrate, open_database
from turnout.runtime.configs import load_for_command

HELP = "manage gateway keys: create (shown once), list, revoke"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="create a key; its secret is shown this once")
    create.add_argument("name", help="a name to know the key by, e.g. ci-bot")
    create.add_argument("--routes", help="comma-separated routes it may use (default: all)")
    create.add_argument("--budget", type=float, metavar="USD", help="dollars it may spend")
    create.add_argument("--period", choices=PERIODS, default="day", help="budget period")
    create.add_argument("--rpm", type=int, help="requests per minute")
    create.add_argument("--tpm", type=int, help="tokens per minute")
    listing = actions.add_parser("list", help="list keys (never their secrets)")
    revoke = actions.add_parser("revoke", help="revoke a key by name")
    revoke.add_argument("name")
    for action in (create, listing, revoke):
        add_config_option(action, nested=True)


def _store(args: argparse.Namespace) -> LedgerStore:
    from turnout.cli.main import CommandError

    try:
        config = load_for_command(args.config)
    except ConfigError as exc:
        raise CommandError(str(exc), exc.hint) from exc
    if config.ledger == "off":
        raise CommandError("keys live in the ledger, and this config has ledger: off")
    store = LedgerStore(open_database(config.ledger or default_location()))
    migrate(store.db)
    return store


def run(args: argparse.Namespace) -> int:
    from turnout.cli.main import CommandError

    try:
        store = _store(args)
        keys = KeyStore(store.db)
        if args.action == "create":
            return _create(keys, args)
        if args.action == "revoke":
            key = keys.revoke(args.name)
            print(f"revoked {key.name} ({key.prefix}…); running gateways refuse it within seconds")
            return 0
        _list(store, keys.all())
        return 0
    except LedgerError as exc:
        raise CommandError(str(exc)) from exc


def _create(keys: KeyStore, args: argparse.Namespace) -> int:
    routes = tuple(r.strip() for r in (args.routes or "").split(",") if r.strip())
    key, secret = keys.create(
        args.name,
        routes=routes,
        budget_usd=args.budget,
        budget_period=args.period if args.budget is not None else None,
        rpm=args.rpm,
        tpm=args.tpm,
    )
    print(f"created gateway key {key.name}:")
    print(f"  {secret}")
    print("This is the only time the key is shown: store it now. Clients send it as the API key.")
    return 0


def _limits(key: GatewayKey) -> str:
    parts = []
    if key.budget_usd is not None:
        parts.append(f"${key.budget_usd:g}/{key.budget_period}")
    if key.rpm is not None:
        parts.append(f"{key.rpm} rpm")
    if key.tpm is not None:
        parts.append(f"{key.tpm} tpm")
    return ", ".join(parts) or "-"


def _list(store: LedgerStore, keys: list[GatewayKey]) -> None:
    table = Table("name", "key", "created", "state", "routes", "limits", "spent this period")
    for key in keys:
        spent = "-"
        if key.budget_period is not None:
            since = period_start(key.budget_period, time.time())
            spent = f"${store.spent_since(since).get(key.id, 0.0):.4f}"
        created = datetime.fromtimestamp(key.created, UTC).strftime("%Y-%m-%d %H:%M")
        state = "revoked" if key.revoked is not None else "active"
        table.add_row(
            key.name, f"{key.prefix}…", created, state, ", ".join(key.routes) or "all",
            _limits(key), spent,
        )  # fmt: skip
    Console().print(table if keys else "no gateway keys: requests need none until one exists")
