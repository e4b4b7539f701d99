"""`turnout` entry point: a table of subcommands, each in its own module."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from turnout import __version__
from turnout.cli import config, doctor, explain, init, keys, serve, status, usage, watch
from turnout.cli.options import add_config_option

#: Subcommand name -> (module's `add_arguments`, module's `run`, one-line help).
COMMANDS: dict[
    str,
    tuple[Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int], str],
] = {
    "serve": (serve.add_arguments, serve.run, serve.HELP),
    "explain": (explain.add_arguments, explain.run, explain.HELP),
    "init": (init.add_arguments, init.run, init.HELP),
    "doctor": (doctor.add_arguments, doctor.run, doctor.HELP),
    "config": (config.add_arguments, config.run, config.HELP),
    "keys": (keys.add_arguments, keys.run, keys.HELP),
    "usage": (usage.add_arguments, usage.run, usage.HELP),
    "status": (status.add_arguments, status.run, status.HELP),
    "watch": (watch.add_arguments, watch.run, watch.HELP),
}


class CommandError(Exception):
    """A failure to report as one clear line (and a hint), never a traceback."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="turnout",
        description="A model gateway that says why a provider path failed and moves traffic "
        "to one that works.",
    )
    parser.add_argument("--version", action="version", version=f"turnout {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (add_arguments, run, help_text) in COMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        add_config_option(sub)
        add_arguments(sub)
        sub.set_defaults(run=run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    try:
        return int(args.run(args))
    except CommandError as exc:
        print(f"turnout {args.command}: {exc}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
