"""The README as a newcomer reads it: its config loads, its commands are real commands, and
what it says `make test` needs is what the Makefile and the pinned clients ask for."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from turnout.cli.main import build_parser
from turnout.runtime.configs import load_config_text

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
ENV = {"ANTHROPIC_API_KEY": "sk-ant-x", "RELAY_KEY": "sk-relay", "TURNOUT_GATEWAY_KEY": "tk-gw"}


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.DOTALL)


def test_the_config_example_is_valid_yaml_and_a_valid_config() -> None:
    [example] = [block for block in blocks("yaml") if "providers:" in block]
    config = load_config_text(example, "README.md", ENV)
    assert [key.value for key in config.server.keys] == ["tk-gw"]
    assert "claude-sonnet-4-6" in config.routes


def turnout_commands() -> list[list[str]]:
    """Each `turnout ...` line of the shell examples, as argv after `turnout`."""
    found = []
    for block in blocks("sh"):
        for line in block.replace("\\\n", " ").splitlines():
            command = line.split("#", 1)[0].strip()
            command = command.removeprefix(".venv/bin/")
            if command.startswith("turnout ") and "[" not in command and "|" not in command:
                found.append(shlex.split(command)[1:])
    return found


def test_no_example_pipes_one_turnout_command_into_another() -> None:
    piped = [line for block in blocks("sh") for line in block.splitlines() if "| turnout" in line]
    assert piped == []


@pytest.mark.parametrize("argv", turnout_commands(), ids=" ".join)
def test_every_example_command_parses(argv: list[str]) -> None:
    build_parser().parse_args(argv)  # argparse exits on a command it does not know


def test_it_says_how_to_get_the_turnout_command() -> None:
    assert ".venv/bin/turnout" in README
    assert "pip install -e ." in README


def test_make_test_prerequisites_are_the_ones_the_makefile_and_the_pins_need() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    lock = json.loads((ROOT / "tests/agents/package-lock.json").read_text(encoding="utf-8"))
    claude = lock["packages"]["node_modules/@anthropic-ai/claude-code"]
    node = re.fullmatch(r">=(\d+)(\.\d+)*", claude["engines"]["node"])
    assert node is not None
    assert f"Node.js {node.group(1)}" in README  # the version the pinned Claude Code asks for
    if "apt-get install" in makefile:
        assert "apt-get" in README
        assert "root" in README


def test_the_node_here_runs_the_pinned_claude_code() -> None:
    lock = json.loads((ROOT / "tests/agents/package-lock.json").read_text(encoding="utf-8"))
    wanted = int(lock["packages"]["node_modules/@anthropic-ai/claude-code"]["engines"]["node"]
                 .removeprefix(">=").split(".")[0])  # fmt: skip
    try:
        version = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout
    except FileNotFoundError:
        pytest.skip("no node on this machine: the agent tests skip as well")
    assert int(version.strip().removeprefix("v").split(".")[0]) >= wanted
