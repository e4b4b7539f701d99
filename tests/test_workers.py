"""`turnout serve --workers N`: N processes on one socket, one view of gates and budgets."""

from __future__ import annotations

import threading
from pathlib import Path

import yaml

from tests.fakes import Cut, Fail, Reply, RunningUpstream
from tests.gateway import request
from tests.serving import GatewayProcess

QUOTA = Fail(
    429, '{"error":{"message":"You exceeded your current quota","type":"insufficient_quota"}}'
)
CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
#: An OpenAI-compatible server that does not know vLLM's continuation fields.
NO_CONTINUATION = Fail(
    400,
    '{"error":{"message":"Unrecognized request argument supplied: continue_final_message",'
    '"type":"invalid_request_error","param":null,"code":null}}',
)


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        if f"\nPPid:\t{pid}\n" in status:
            found.append(int(entry.name))
    return found


def test_a_gate_found_by_one_worker_holds_for_all(tmp_path: Path) -> None:
    with RunningUpstream() as primary, RunningUpstream() as backup:
        primary.script(QUOTA)  # once: then every later request would succeed there
        backup.script(*[Reply(text="from backup")] * 41)
        config = tmp_path / "turnout.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "ledger": "off",
                    "defaults": {"retries": 0},
                    "providers": {
                        "primary": {"kind": "openai", "base_url": primary.url + "/v1"},
                        "backup": {"kind": "openai", "base_url": backup.url + "/v1"},
                    },
                    "routes": {"m": ["primary/gpt-4o", "backup/gpt-4o"]},
                }
            )
        )
        env = {"XDG_DATA_HOME": str(tmp_path / "data")}  # the shared state file goes here
        with GatewayProcess(config, "--workers", "2", env=env) as gateway:
            assert len(children_of(gateway.pid)) == 2
            first = request(gateway.url, "POST", "/v1/chat/completions", CHAT)
            assert first.headers["x-turnout-attempts"] == "primary:quota -> backup:ok"
            statuses: list[int] = []

            def client() -> None:
                for _ in range(10):  # a new connection each time: either worker may answer
                    statuses.append(
                        request(gateway.url, "POST", "/v1/chat/completions", CHAT).status
                    )

            threads = [threading.Thread(target=client) for _ in range(4)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=60)
            health = request(gateway.url, "GET", "/healthz").json()
        assert statuses == [200] * 40
        assert len(primary.requests) == 1  # the gate is one view: no worker asked again
        assert health["state"]["backend"] == "sqlite"  # type: ignore[index]
        assert (tmp_path / "data" / "turnout" / f"state-{gateway.port}.sqlite3").exists()
    assert "workers: 2" in gateway.output()


def test_a_path_one_worker_finds_refusing_a_prefill_is_not_asked_by_the_other(
    tmp_path: Path,
) -> None:
    with RunningUpstream() as primary, RunningUpstream() as spare:
        primary.script(*[Cut(after_events=3, text="one two three four")] * 12)
        spare.script(NO_CONTINUATION)  # every time
        config = tmp_path / "turnout.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "ledger": "off",
                    "defaults": {"retries": 0, "cooldown_s": 0},
                    "providers": {
                        "primary": {"kind": "openai", "base_url": primary.url + "/v1"},
                        "spare": {"kind": "openai", "base_url": spare.url + "/v1"},
                    },
                    "routes": {"m": ["primary/gpt-4o", "spare/gpt-4o"]},
                }
            )
        )
        env = {"XDG_DATA_HOME": str(tmp_path / "data")}
        with GatewayProcess(config, "--workers", "2", env=env) as gateway:
            for _ in range(12):  # a new connection each time: either worker may answer
                cut = request(gateway.url, "POST", "/v1/chat/completions", {**CHAT, "stream": True})
                assert cut.status == 200  # the stream began, broke and was not continued
    asked = [r for r in spare.requests if r.json and r.json.get("continue_final_message")]
    assert len(asked) == 1  # learned by whichever worker asked first, known to the other


def test_workers_out_of_range_are_refused() -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "turnout", "serve", "--demo", "--workers", "0"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "--workers must be between 1 and 64" in result.stderr
