"""`turnout config check [FILE]`: find config mistakes before they cost a request."""

from __future__ import annotations

import argparse

from turnout.config.default import find_config
from turnout.config.load import ConfigError, ConfigErrors, load_config
from turnout.config.ports import port_problem

HELP = "check a config file: every mistake with its file, line and fix"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    check = actions.add_parser("check", help=HELP, description=HELP)
    check.add_argument(
        "file", nargs="?", help="the config (default: --config, $TURNOUT_CONFIG, user config)"
    )
    check.add_argument(
        "--no-port", action="store_true", help="skip checking that the server port is free"
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
    else:
        problem = None if args.no_port else port_problem(config.server.host, config.server.port)
        if problem is not None:
            problem.source = str(path)
            errors = [problem]
    for error in errors:
        print(error)
        if error.hint:
            print(f"  fix: {error.hint}")
    if errors:
        print(f"{len(errors)} problem{'s' if len(errors) > 1 else ''} in {path}")
        return 1
    print(f"{path}: ok ({len(config.providers)} providers, {len(config.routes)} routes)")
    return 0
