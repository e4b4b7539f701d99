"""Hot reload: a changed config (or SIGHUP) is applied under load without losing a request;
a broken one is refused and the running config stays."""

from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path

import yaml

from tests.gateway import Reply as HttpReply
from tests.gateway import request
from tests.serving import GatewayProcess
from tests.waiting import wait_until


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


def test_reload_under_load_loses_no_request_and_refuses_a_broken_config(tmp_path: Path) -> None:
    path = tmp_path / "turnout.yaml"
    path.write_text(config_text("from A"))
    log_path = tmp_path / "gateway.log"
    with log_path.open("wb") as log:
        gateway = GatewayProcess(path, log=log)
    results: list[tuple[int, str]] = []
    stop = threading.Event()

    def load() -> None:  # bounded: stops on the event or after 2,000 requests
        for _ in range(2000):
            if stop.is_set():
                return
            reply = ask(gateway.url)
            results.append((reply.status, answer(reply) if reply.status == 200 else ""))

    def served_since(start: int, text: str) -> bool:
        return any(answer == text for _, answer in results[start:])

    try:
        gateway.wait_ready()
        workers = [threading.Thread(target=load) for _ in range(6)]
        for worker in workers:
            worker.start()
        wait_until(lambda: len(results) > 20, what="load under way")
        path.write_text(config_text("from B"))
        wait_until(lambda: served_since(0, "from B"), what="the changed file applied")
        # Same size and mtime as before: only the signal can make the gateway read it.
        before = path.stat()
        path.write_text(config_text("from C"))
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
        os.kill(gateway.pid, signal.SIGHUP)
        wait_until(lambda: served_since(0, "from C"), what="the SIGHUP reload applied")
        path.write_text("providers: {mock: {kind: mock}}\nroutes: {m: [nowhere/m]}\n")
        wait_until(lambda: b"config reload refused" in log_path.read_bytes(), what="refusal")
        settled = len(results)
        wait_until(lambda: len(results) > settled + 30, what="requests after the refusal")
        assert all(text == "from C" for _, text in results[settled:])
        stop.set()
        for worker in workers:
            worker.join(timeout=60)
    finally:
        stop.set()
        gateway.stop()
    assert results
    assert all(status == 200 for status, _ in results), [s for s, _ in results if s != 200]
    assert {text for _, text in results} == {"from A", "from B", "from C"}
    output = log_path.read_text()
    assert "config reload refused, keeping the running config" in output
    assert "routes.m[0]: no provider named 'nowhere'" in output
    assert "(file changed)" in output
    assert "(SIGHUP)" in output
