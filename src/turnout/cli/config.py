"""`turnout config check [FILE]`: find config mistakes before they cost a request."""

from __future__ import annotations

import argparse

from turnout.cli.options import add_config_option
from turnout.config.default import find_config
from turnout.config.load import ConfigError, ConfigErrors
from turnout.config.ports import port_problem
from turnout.runtime.configs import load_config

HELP = "check a config file: every mistake with its file, line and fix"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    check = actions.add_parser("check", help=HELP, description=HELP)
    add_config_option(check, nested=True)
    check.add_argument(
        "file", nargs="?", help="the config (default: --config, $TURNOUT_CONFIG, user config)"
    )
    check.add_argument(
        "--no-port", action="store_true", help="do not look whether the server port is free now"
    )


def run(args: argparse.Namespace) -> int:
    from turnout.cli.main import CommandError

    path = find_config(args.file or args.config)
    if path is None:
        raise CommandError(
            "no config file to check",
            "pass a file, set TURNOUT_CONFIG, or create one with turnout init",
        )
    errors: list[ConfigError] = []
    try:
        config = load_config(path)
    except ConfigErrors as found:
        errors = found.errors
    except ConfigError as single:
        errors = [single]
    for error in errors:
        print(error)
        if error.hint:
            print(f"  fix: {error.hint}")
    if errors:
        print(f"{len(errors)} problem{'s' if len(errors) > 1 else ''} in {path}")
        return 1
    print(f"{path}: ok ({len(config.providers)} providers, {len(config.routes)} routes)")
    for name, reasons in config.unavailable.items():
        for reason in reasons:
            print(f"note: {reason}; until it is set, the paths over {name} are skipped")
    if not args.no_port:
        _warn_about_the_port(config.server.host, config.server.port)
    return 0


def _warn_about_the_port(host: str, port: int) -> None:
    """A busy port is a condition of this machine now (often the gateway itself, running on
    this very config), not a mistake in the file: said, but it does not fail the check."""
    problem = port_problem(host, port)
    if problem is not None:
        print(f"note: {problem}; `turnout serve` cannot start until it is free")
        if problem.hint:
            print(f"  if that is not a turnout already serving this config: {problem.hint}")
