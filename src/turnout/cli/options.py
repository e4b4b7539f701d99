"""Options every command takes, wherever on the command line the user puts them."""

from __future__ import annotations

import argparse

CONFIG_HELP = (
    "config file (default: $TURNOUT_CONFIG, the user config directory, then the embedded default)"
)


def add_config_option(parser: argparse.ArgumentParser, *, nested: bool = False) -> None:
    """`--config FILE` on a command, or (nested) on one of its actions, so both
    `turnout --config F keys list` orders and `turnout keys list --config F` work.

    A nested copy has no default of its own: it must not overwrite a value given earlier."""
    default: object = argparse.SUPPRESS if nested else None
    parser.add_argument("--config", metavar="FILE", help=CONFIG_HELP, default=default)
