"""Gateway keys and budgets: stored hashed, required once one exists, limits that hold."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import openai
import pytest
import yaml

from tests.clients import Clients
from tests.fakes import Reply, RunningUpstream
from tests.gateway import request, running_gateway
from tests.waiting import wait_until
from turnout.catalog import price_of
from turnout.ledger.keys import GatewayKey, KeyStore
from turnout.ledger.ledger import Ledger
from turnout.ledger.store import migrate, open_database
from turnout.runtime.configs import load_config_text
from turnout.runtime.gateway import Gateway, Shared
from turnout.runtime.keysync import KeySync


def gateway_config(
    ledger: Path, upstream: RunningUpstream, backup: RunningUpstream | None = None, **provider: Any
) -> str:
    providers: dict[str, Any] = {
        "paid": {"kind": "openai", "base_url": upstream.url + "/v1", **provider}
    }
    targets = ["paid/gpt-4o"]
    if backup is not None:
        providers["spare"] = {"kind": "openai", "base_url": backup.url + "/v1"}
        targets.append("spare/gpt-4o-mini")
    return yaml.safe_dump(
        {"ledger": str(ledger), "providers": providers, "routes": {"m": targets, "other": targets}}
    )


def make_key(ledger: Path, name: str, **limits: Any) -> str:
    db = open_database(str(ledger))
    migrate(db)
    _, secret = KeyStore(db).create(name, **limits)
    db.close()
    return secret


def ask(client: openai.OpenAI, model: str = "m", max_tokens: int = 5) -> Any:
    return client.chat.completions.with_raw_response.create(
        model=model, max_tokens=max_tokens, messages=[{"role": "user", "content": "hello"}]
    )


def test_keys_cli_shows_a_secret_once_and_stores_only_its_hash(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.sqlite3"
    config = tmp_path / "turnout.yaml"
    config.write_text(
        yaml.safe_dump(
            {"ledger": str(ledger), "providers": {"m": {"kind": "mock"}}, "routes": {"x": ["m/x"]}}
        )
    )

    def keys(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "turnout", "keys", "--config", str(config), *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    created = keys("create", "ci-bot", "--budget", "5", "--period", "day", "--rpm", "60")
    assert created.returncode == 0, created.stderr
    secret = next(
        line.strip() for line in created.stdout.splitlines() if line.strip().startswith("tk-")
    )
    listed = keys("list")
    assert "ci-bot" in listed.stdout
    assert "$5/day" in listed.stdout
    assert secret not in listed.stdout
    assert secret.encode() not in ledger.read_bytes()
    assert keys("create", "ci-bot").returncode == 2  # names are unique
    assert "revoked ci-bot" in keys("revoke", "ci-bot").stdout
    assert "revoked" in keys("list").stdout


def test_config_may_follow_the_action(tmp_path: Path) -> None:
    """`keys create NAME --config FILE` writes into that config's ledger, as the README shows."""
    ledger = tmp_path / "ledger.sqlite3"
    config = tmp_path / "turnout.yaml"
    config.write_text(
        yaml.safe_dump(
            {"ledger": str(ledger), "providers": {"m": {"kind": "mock"}}, "routes": {"x": ["m/x"]}}
        )
    )

    def keys(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "turnout", "keys", *args, "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    created = keys("create", "ci-bot")
    assert created.returncode == 0, created.stderr
    assert "ci-bot" in keys("list").stdout
    assert [key.name for key in KeyStore(open_database(str(ledger))).all()] == ["ci-bot"]


def test_once_a_key_exists_requests_need_a_valid_one(tmp_path: Path, clients: Clients) -> None:
    ledger = tmp_path / "ledger.sqlite3"
    secret = make_key(ledger, "team")
    with RunningUpstream() as up, running_gateway(gateway_config(ledger, up)) as gw:
        with pytest.raises(openai.AuthenticationError):
            ask(clients.openai(gw.url, key="not-a-key"))
        assert ask(clients.openai(gw.url, key=secret)).parse().choices[0].message.content
        anthropic_reply = request(
            gw.url,
            "POST",
            "/v1/messages",
            {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]},
        )
        assert anthropic_reply.status == 401
        assert anthropic_reply.json()["error"]["type"] == "authentication_error"  # type: ignore[index]
        assert request(gw.url, "GET", "/healthz").status == 200  # load balancers need no key
        db = open_database(str(ledger))
        KeyStore(db).revoke("team")
        db.close()

        def refused() -> bool:
            try:
                ask(clients.openai(gw.url, key=secret))
            except openai.AuthenticationError:
                return True
            return False

        wait_until(refused, what="the revoked key refused")
        assert len(up.requests) >= 1
        # The last key revoked: the gateway stays closed (no key in force opens nothing), the
        # operator on this machine still sees /metrics, and a new key is the way back in.
        with pytest.raises(openai.AuthenticationError):
            ask(clients.openai(gw.url, key="any"))
        assert request(gw.url, "GET", "/metrics").status == 200
        fresh = make_key(ledger, "team-2")
        wait_until(
            lambda: (
                request(gw.url, "GET", "/v1/models", headers={"x-api-key": fresh}).status == 200
            ),
            what="the new key accepted",
        )


def test_a_spent_budget_refuses_before_any_provider_call(tmp_path: Path, clients: Clients) -> None:
    ledger = tmp_path / "ledger.sqlite3"
    secret = make_key(ledger, "tiny", budget_usd=0.0, budget_period="day")
    with RunningUpstream() as up, running_gateway(gateway_config(ledger, up)) as gw:
        with pytest.raises(openai.RateLimitError) as caught:
            ask(clients.openai(gw.url, key=secret))
        body = caught.value.response.json()
        assert body["error"]["code"] == "gateway_budget_exhausted"
        assert body["error"]["type"] == "insufficient_quota"
        assert caught.value.response.headers["x-should-retry"] == "false"
        assert up.requests == []
    with sqlite3.connect(ledger) as conn:
        assert conn.execute("SELECT status, outcome FROM requests").fetchall() == [
            (429, "gateway_budget_exhausted")
        ]


def test_a_budget_holds_under_concurrent_load(tmp_path: Path, clients: Clients) -> None:
    ledger = tmp_path / "ledger.sqlite3"
    price = price_of("gpt-4o")
    assert price is not None
    per_request = price.cost(10, 500)
    budget = per_request * 6.5  # room for six requests, not seven
    secret = make_key(ledger, "load", budget_usd=budget, budget_period="day")
    with RunningUpstream() as up:
        up.script(Reply(text="ok", usage=(10, 500), first_byte_delay_s=0.05))
        with running_gateway(gateway_config(ledger, up)) as gw:
            client = clients.openai(gw.url, key=secret)

            def one(_: int) -> str:
                try:
                    ask(client, max_tokens=500)
                    return "ok"
                except openai.RateLimitError:
                    return "refused"

            with ThreadPoolExecutor(max_workers=12) as pool:
                outcomes = list(pool.map(one, range(40)))
    with sqlite3.connect(ledger) as conn:
        spent = conn.execute("SELECT SUM(cost_usd) FROM requests").fetchone()[0]
    assert outcomes.count("ok") >= 1
    assert outcomes.count("refused") >= 30
    assert spent <= budget
    assert len(up.requests) == outcomes.count("ok")


def test_rate_limit_and_route_restrictions(tmp_path: Path, clients: Clients) -> None:
    ledger = tmp_path / "ledger.sqlite3"
    secret = make_key(ledger, "slow", rpm=2, routes=("m",))
    with RunningUpstream() as up, running_gateway(gateway_config(ledger, up)) as gw:
        client = clients.openai(gw.url, key=secret)
        with pytest.raises(openai.PermissionDeniedError):
            ask(client, model="other")
        ask(client)
        ask(client)
        with pytest.raises(openai.RateLimitError) as caught:
            ask(client)
        assert int(caught.value.response.headers["retry-after"]) >= 1


def test_a_path_with_a_spent_budget_is_skipped_and_says_so(
    tmp_path: Path, clients: Clients
) -> None:
    ledger = tmp_path / "ledger.sqlite3"
    with RunningUpstream() as paid, RunningUpstream() as spare:
        paid.script(Reply(text="paid answer", usage=(100000, 1000)))
        spare.script(Reply(text="spare answer"))
        config = gateway_config(ledger, paid, spare, budget={"usd": 0.05, "period": "day"})
        with running_gateway(config) as gw:
            client = clients.openai(gw.url)
            first = ask(client)
            assert first.parse().choices[0].message.content == "paid answer"
            second = ask(client)
            assert second.parse().choices[0].message.content == "spare answer"
            assert second.headers["x-turnout-attempts"] == "paid:skipped(quota) -> spare:ok"
            assert len(paid.requests) == 1


def test_a_new_key_is_accepted_only_once_its_budget_is_in_force(tmp_path: Path) -> None:
    """Reading a new key's spend waits on the database; a key accepted meanwhile was served
    with no budget at all (replicas under load overspent by a request)."""
    ledger_path = tmp_path / "ledger.sqlite3"
    make_key(ledger_path, "capped", budget_usd=1.0, budget_period="day")
    config = load_config_text(
        f"ledger: {ledger_path}\nproviders:\n  p: {{kind: mock}}\nroutes:\n  m: [p/x]\n"
    )
    ledger = Ledger(str(ledger_path), "keys-test")
    gateway = Gateway.build(config, Shared.over(None, ledger))
    seen_while_reading: list[bool] = []

    class Watching(KeySync):
        @staticmethod
        async def _spent_by_key(gateway: Gateway, key: GatewayKey) -> float:
            seen_while_reading.append(gateway.shared.keyring.find(key.id) is not None)
            return 0.0

    try:
        asyncio.run(Watching(lambda: gateway).sync())
    finally:
        ledger.store.db.close()
        ledger.journal.close()
    assert seen_while_reading == [False]  # not accepted while its budget was being read
    assert bool(gateway.shared.keyring)  # and accepted once it was
    assert len(gateway.shared.budgets.keys) == 1
