"""Hot reload: a changed config (or SIGHUP) is applied under load without losing a request;
a broken one is refused and the running config stays."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import yaml

from tests.gateway import Reply as HttpReply
from tests.gateway import free_port, request


def config_text(reply: str, delay_s: float = 0.05) -> str:
    return yaml.safe_dump(
        {
            "providers": {
                "mock": {"kind": "mock", "script": [{"reply": reply, "delay_s": delay_s}]}
            },
            "routes": {"m": ["mock/m"]},
        }
    )


def ask(url: str) -> HttpReply:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    return request(url, "POST", "/v1/chat/completions", body)


def answer(reply: HttpReply) -> str:
    data = json.loads(reply.body)
    return str(data["choices"][0]["message"]["content"])


def wait_for(condition: object, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_reload_under_load_loses_no_request_and_refuses_a_broken_config(tmp_path: Path) -> None:
    path = tmp_path / "turnout.yaml"
    path.write_text(config_text("from A"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (tmp_path / "gateway.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "turnout", "serve", "--config", str(path), "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ},
    )
    results: list[tuple[int, str]] = []
    stop = threading.Event()

    def load() -> None:  # bounded: stops on the event or after 400 requests
        for _ in range(400):
            if stop.is_set():
                return
            reply = ask(url)
            results.append((reply.status, answer(reply) if reply.status == 200 else ""))

    try:
        wait_for(lambda: _healthy(url))
        workers = [threading.Thread(target=load) for _ in range(6)]
        for worker in workers:
            worker.start()
        wait_for(lambda: len(results) > 20)
        path.write_text(config_text("from B"))
        wait_for(lambda: any(text == "from B" for _, text in results[-6:]))
        # Same size and mtime as before: only the signal can make the gateway read it.
        before = path.stat()
        path.write_text(config_text("from C"))
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
        os.kill(proc.pid, signal.SIGHUP)
        wait_for(lambda: any(text == "from C" for _, text in results[-6:]))
        path.write_text("providers: {mock: {kind: mock}}\nroutes: {m: [nowhere/m]}\n")
        time.sleep(1.5)  # longer than the reloader's poll
        settled = len(results)
        time.sleep(0.3)
        assert all(text == "from C" for _, text in results[settled:])
        stop.set()
        for worker in workers:
            worker.join(timeout=30)
    finally:
        stop.set()
        proc.terminate()
        proc.wait(timeout=20)
        log.close()
    assert results
    assert all(status == 200 for status, _ in results), [s for s, _ in results if s != 200]
    assert {text for _, text in results} == {"from A", "from B", "from C"}
    output = (tmp_path / "gateway.log").read_text()
    assert "config reload refused, keeping the running config" in output
    assert "routes.m[0]: no provider named 'nowhere'" in output
    assert "(file changed)" in output
    assert "(SIGHUP)" in output


def _healthy(url: str) -> bool:
    try:
        return request(url, "GET", "/healthz").status == 200
    except OSError:
        return False
