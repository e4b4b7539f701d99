"""`turnout serve` as a user starts it: a real process, its banner, its refusal to go public unkeyed."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.gateway import free_port, request


def start(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "turnout", "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
    )


def wait_healthy(url: str, proc: subprocess.Popen[str], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        try:
            if request(url, "GET", "/healthz").status == 200:
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("gateway never became healthy")


def stop(proc: subprocess.Popen[str]) -> str:
    proc.terminate()
    out, _ = proc.communicate(timeout=20)
    return out


def test_demo_serves_a_failover_and_prints_its_routes() -> None:
    port = free_port()
    proc = start("--demo", "--port", str(port))
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc)
        body = {"model": "claude-sonnet-4-6", "messages": [{"role": "user", "content": "hi"}]}
        reply = request(url, "POST", "/v1/chat/completions", body)
        assert reply.status == 200
        assert reply.headers["x-turnout-attempts"] == "claude-sub:quota -> backup:ok"
    finally:
        out = stop(proc)
    assert f"turnout listening on http://127.0.0.1:{port}" in out
    assert "route *: claude-sub/* -> backup/*" in out


def test_with_nothing_detected_it_says_so_and_offers_the_demo(tmp_path: Path) -> None:
    port = free_port()
    env = {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path), "TURNOUT_CONFIG": ""}
    for name in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "OPENROUTER_API_KEY", "DEEPSEEK_API_KEY"):
        env[name] = ""
    proc = start("--port", str(port), env=env)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", proc)
    finally:
        out = stop(proc)
    assert "No providers detected" in out
    assert "turnout serve --demo" in out


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
