"""`turnout config check`: each mistake it knows, tripped by a config, named with file and line."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

GOOD_PROVIDER = "  relay:\n    kind: openai\n    base_url: https://relay.example/v1\n"


def check(
    path: Path, *extra: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "turnout", "config", "check", str(path), *extra],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.parametrize(
    ("config", "expected", "fix"),
    [
        (
            "providers:\n  relay:\n    kind: openai\n    base_url: https://relay.example/v1/chat/completions\nroutes:\n  m: [relay/x]\n",
            ":4: providers.relay.base_url ends in /chat/completions",
            "give the base only: https://relay.example/v1",
        ),
        (
            "providers:\n  claude:\n    kind: anthropic\n    base_url: https://api.anthropic.com/v1/messages\nroutes:\n  m: [claude/x]\n",
            ":4: providers.claude.base_url ends in /messages",
            "https://api.anthropic.com/v1",
        ),
        (
            "providers:\n  oai:\n    kind: openai\n    base_url: https://api.openai.com\nroutes:\n  m: [oai/gpt-4o]\n",
            ":4: providers.oai.base_url 'https://api.openai.com' has no API version path",
            "https://api.openai.com/v1",
        ),
        (
            "providers:\n  ollama:\n    kind: openai\n    base_url: http://127.0.0.1:11434\nroutes:\n  m: [ollama/llama3]\n",
            ":4: providers.ollama.base_url 'http://127.0.0.1:11434' has no API version path",
            "http://127.0.0.1:11434/v1",
        ),
        (
            f"providers:\n{GOOD_PROVIDER}    api_key: ${{TURNOUT_TEST_UNSET_KEY}}\nroutes:\n  m: [relay/x]\n",
            ":5: providers.relay.api_key: environment variable TURNOUT_TEST_UNSET_KEY is not set",
            "export TURNOUT_TEST_UNSET_KEY=...",
        ),
        (
            f"providers:\n{GOOD_PROVIDER}    retires: 3\nroutes:\n  m: [relay/x]\n",
            ":5: providers.relay: unknown key 'retires'",
            "did you mean 'retries'?",
        ),
        (
            f"providers:\n{GOOD_PROVIDER}routes:\n  m:\n    - relay/x\n    - relya/x\n",
            ":8: routes.m[1]: no provider named 'relya'",
            "configured providers: relay",
        ),
        (
            f"providers:\n{GOOD_PROVIDER}{GOOD_PROVIDER}routes:\n  m: [relay/x]\n",
            ":5: providers: duplicate name 'relay'",
            "each name may appear once",
        ),
        (
            f"providers:\n{GOOD_PROVIDER}  claude:\n    kind: anthropic\n"
            "    base_url: https://api.anthropic.com\nroutes:\n"
            "  embed:\n    - relay/text-embedding-3-small\n    - claude/claude-haiku-4-5\n",
            ":11: routes.embed[1]: claude/claude-haiku-4-5 cannot serve embeddings (kind "
            "anthropic has no embeddings API), and routes.embed is an embeddings route",
            "list only paths whose provider embeds (kinds: azure, mock, openai)",
        ),
    ],
    ids=[
        "chat-completions",
        "messages",
        "openai-version",
        "ollama-version",
        "unset-env",
        "unknown-key",
        "missing-provider",
        "duplicate",
        "embeddings-fallback",
    ],
)
def test_each_mistake_is_named_with_file_line_and_fix(
    tmp_path: Path, config: str, expected: str, fix: str
) -> None:
    path = tmp_path / "turnout.yaml"
    path.write_text(config)
    result = check(path, "--no-port", env={"TURNOUT_TEST_UNSET_KEY": ""})
    assert result.returncode == 1, result.stdout
    assert f"{path}{expected}" in result.stdout
    fixes = [line for line in result.stdout.splitlines() if line.startswith("  fix: ")]
    assert any(fix in line for line in fixes), fixes


def test_a_port_in_use_is_noted_but_is_no_config_mistake(tmp_path: Path) -> None:
    """A running gateway holds its own port: checking its config must still pass."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        path = tmp_path / "turnout.yaml"
        path.write_text(
            f"providers:\n{GOOD_PROVIDER}routes:\n  m: [relay/x]\nserver:\n  port: {port}\n"
        )
        result = check(path)
        quiet = check(path, "--no-port")
    assert result.returncode == 0, result.stdout
    assert "ok (1 providers, 1 routes)" in result.stdout
    assert f"note: port {port} on 127.0.0.1 is in use" in result.stdout
    assert "problem" not in result.stdout
    assert quiet.returncode == 0
    assert "in use" not in quiet.stdout


def test_a_good_config_passes(tmp_path: Path) -> None:
    path = tmp_path / "turnout.yaml"
    path.write_text(f"providers:\n{GOOD_PROVIDER}routes:\n  m: [relay/x]\n")
    result = check(path, "--no-port")
    assert result.returncode == 0
    assert "ok (1 providers, 1 routes)" in result.stdout


def test_the_file_may_be_given_as_config_after_the_action(tmp_path: Path) -> None:
    path = tmp_path / "turnout.yaml"
    path.write_text(f"providers:\n{GOOD_PROVIDER}routes:\n  m: [relay/x]\n")
    result = subprocess.run(
        [sys.executable, "-m", "turnout", "config", "check", "--config", str(path), "--no-port"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={**os.environ, "TURNOUT_CONFIG": ""},
    )
    assert result.returncode == 0, result.stderr
    assert f"{path}: ok (1 providers, 1 routes)" in result.stdout


def test_serve_refuses_a_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "turnout", "serve", "--demo", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    assert result.returncode == 2
    assert f"port {port} on 127.0.0.1 is in use" in result.stderr


def test_an_unset_key_on_a_backup_path_is_a_note_not_a_mistake(tmp_path: Path) -> None:
    path = tmp_path / "turnout.yaml"
    path.write_text(
        f"providers:\n{GOOD_PROVIDER}"
        "  spare:\n    kind: anthropic\n    base_url: https://api.anthropic.com\n"
        "    api_key: ${TURNOUT_TEST_UNSET_KEY}\n"
        "routes:\n  m: [relay/x, spare/x]\n"
    )
    result = check(path, "--no-port", env={"TURNOUT_TEST_UNSET_KEY": ""})
    assert result.returncode == 0, result.stdout
    assert "ok (1 providers, 1 routes)" in result.stdout
    assert (
        f"note: {path}:8: providers.spare.api_key: environment variable TURNOUT_TEST_UNSET_KEY "
        "is not set; until it is set, the paths over spare are skipped"
    ) in result.stdout


def without_cloud_libraries(folder: Path) -> dict[str, str]:
    """An environment where botocore and google.auth fail to import, as when turnout was
    installed without its `aws` and `gcp` extras: shims first on the path that raise."""
    for package in ("botocore", "google/auth"):
        (folder / package).mkdir(parents=True)
        name = package.replace("/", ".")
        (folder / package / "__init__.py").write_text(
            f"raise ModuleNotFoundError(\"No module named '{name}'\", name={name!r})\n"
        )
    return {
        "PYTHONPATH": os.pathsep.join(filter(None, [str(folder), os.environ.get("PYTHONPATH")]))
    }


CLOUD_CONFIG = """\
providers:
  br: {kind: bedrock, region: us-east-1}
  vx: {kind: vertex, project: my-project-42}
routes:
  m: [br/us.anthropic.claude-haiku-4-5-20251001-v1:0, vx/claude-haiku-4-5@20251001]
"""


def test_a_missing_cloud_extra_names_its_install_command(tmp_path: Path) -> None:
    import tomllib

    extras = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert any(d.startswith("botocore") for d in extras["aws"])
    assert any(d.startswith("google-auth") for d in extras["gcp"])
    path = tmp_path / "c.yaml"
    path.write_text(CLOUD_CONFIG)
    env = without_cloud_libraries(tmp_path / "shims")
    done = check(path, "--no-port", env=env)
    assert done.returncode == 1
    assert "providers.br.kind is bedrock, which needs the botocore library" in done.stdout
    assert "fix: pip install 'turnout[aws]'" in done.stdout
    assert "providers.vx.kind is vertex, which needs the google.auth library" in done.stdout
    assert "fix: pip install 'turnout[gcp]'" in done.stdout
    doctor = subprocess.run(
        [sys.executable, "-m", "turnout", "doctor", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={**os.environ, **env},
    )
    assert doctor.returncode == 2
    assert "which needs the botocore library and it is not installed" in doctor.stderr
    assert "hint: pip install 'turnout[aws]'" in doctor.stderr
    # With the libraries there, the same file is fine.
    assert check(path, "--no-port").returncode == 0
