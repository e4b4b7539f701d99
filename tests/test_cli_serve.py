"""`turnout serve` as a user starts it: a real process, its banner, its refusal to go public unkeyed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.gateway import free_port, request
from tests.serving import GatewayProcess


def test_demo_serves_a_failover_and_prints_its_routes() -> None:
    with GatewayProcess(None, "--demo") as gateway:
        body = {"model": "claude-sonnet-4-6", "messages": [{"role": "user", "content": "hi"}]}
        reply = request(gateway.url, "POST", "/v1/chat/completions", body)
        assert reply.status == 200
        assert reply.headers["x-turnout-attempts"] == "claude-sub:quota -> backup:ok"
    out = gateway.output()
    assert f"turnout listening on http://127.0.0.1:{gateway.port}" in out
    assert "route *: claude-sub/* -> backup/*" in out


def test_the_demo_leaves_the_users_ledger_alone(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with GatewayProcess(None, "--demo", env={"XDG_DATA_HOME": str(data)}) as gateway:
        body = {"model": "claude-sonnet-4-6", "messages": [{"role": "user", "content": "hi"}]}
        assert request(gateway.url, "POST", "/v1/chat/completions", body).status == 200
    assert gateway.stop() is not None
    assert not (data / "turnout").exists(), sorted(data.rglob("*"))


def test_with_nothing_detected_it_says_so_and_offers_the_demo(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path), "TURNOUT_CONFIG": ""}
    for name in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "OPENROUTER_API_KEY", "DEEPSEEK_API_KEY"):
        env[name] = ""
    with GatewayProcess(env=env) as gateway:
        pass
    assert "No providers detected" in gateway.output()
    assert "turnout serve --demo" in gateway.output()


def test_an_unset_key_on_a_backup_path_is_skipped_not_fatal(tmp_path: Path) -> None:
    config = tmp_path / "turnout.yaml"
    config.write_text(
        "providers:\n"
        "  main: {kind: mock}\n"
        "  spare: {kind: openai, base_url: 'https://relay.example/v1', "
        "api_key: '${TURNOUT_TEST_UNSET_SPARE_KEY}'}\n"
        "routes:\n  m: [main/m, spare/m]\n"
    )
    with GatewayProcess(config, env={"TURNOUT_TEST_UNSET_SPARE_KEY": ""}) as gateway:
        body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
        reply = request(gateway.url, "POST", "/v1/chat/completions", body)
        assert reply.status == 200
        assert reply.headers["x-turnout-attempts"] == "main:ok"
    out = gateway.output()
    assert "route m: main/m\n" in out
    assert (
        f"skipped provider spare: {config}:3: providers.spare.api_key: environment variable "
        "TURNOUT_TEST_UNSET_SPARE_KEY is not set"
    ) in out


def test_refuses_a_public_address_without_gateway_keys() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "turnout", "serve", "--demo", "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "refusing to listen on 0.0.0.0 without gateway keys" in result.stderr


def test_a_broken_config_is_refused_with_the_file_and_the_fix(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(
        "providers:\n  a: {kind: openai, base_url: 'https://x/v1/chat/completions'}\nroutes: {m: [a/m]}\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "turnout", "serve", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert f"{config}:2: providers.a.base_url ends in /chat/completions" in result.stderr
    assert "hint: give the base only: https://x/v1" in result.stderr


def test_refuses_an_embedded_default_that_points_back_at_itself(tmp_path: Path) -> None:
    """The shell of a Claude Code user: ANTHROPIC_BASE_URL is turnout, and a key is set."""
    port = free_port()
    env = {
        **os.environ,
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path),
        "TURNOUT_CONFIG": "",
        "ANTHROPIC_API_KEY": "sk-ant-test",
        "ANTHROPIC_BASE_URL": f"http://localhost:{port}",
    }
    result = subprocess.run(
        [sys.executable, "-m", "turnout", "serve", "--port", str(port)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env=env,
    )
    assert result.returncode == 2
    assert f"anthropic (http://localhost:{port}) is this gateway's own address" in result.stderr
    assert "unset it in the shell" in result.stderr
