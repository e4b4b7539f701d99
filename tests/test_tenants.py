"""Against a hostile tenant: one client must not hurt the others or escape accounting.

Each test plays an attack through a real gateway on 127.0.0.1 over fake upstreams that speak
the providers' wire, and checks what another, honest tenant then meets.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import sqlite3
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.fakes import Cut, Quote, Reply, RunningUpstream
from tests.gateway import Reply as HttpReply
from tests.gateway import gateway_over, request, running_gateway
from tests.test_keys_budgets import make_key
from turnout.catalog import price_of
from turnout.config.load import ConfigError
from turnout.config.model import ProviderConfig
from turnout.diagnosis import Category, diagnose
from turnout.edge.dashboard import AdminViews
from turnout.errors import UpstreamHTTPError
from turnout.ledger.keys import KeyStore
from turnout.ledger.record import AttemptRecord, RequestRecord
from turnout.ledger.store import open_database
from turnout.routing.chain import read_failure
from turnout.routing.echo import ClientEcho
from turnout.runtime.configs import load_config_text
from turnout.runtime.gateway import Gateway, Shared
from turnout.state.memory import MAX_MARKS
from turnout.telemetry.labels import DYNAMIC_PATHS, OTHER_MODELS
from turnout.telemetry.snapshot import snapshot_of

ANTHROPIC_HEADERS = {"anthropic-version": "2023-06-01"}
HELLO = [{"role": "user", "content": "hi"}]


def chat(url: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> HttpReply:
    return request(url, "POST", "/v1/chat/completions", body, headers)


def messages(url: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> HttpReply:
    return request(url, "POST", "/v1/messages", body, {**ANTHROPIC_HEADERS, **(headers or {})})


# --- gate poisoning: only the provider's own words may gate a shared credential -----------

#: What the providers answer when the input is wrong, quoting it back.
ANTHROPIC_UNKNOWN_MODEL = {
    "type": "error",
    "error": {"type": "not_found_error", "message": "model: {model}"},
}
OPENAI_UNKNOWN_PARAMETER = {
    "error": {
        "message": "Unrecognized request argument supplied: {param}",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }
}
OPENAI_INVALID_ROLE = {
    "error": {
        "message": "Invalid value: '{role}'. Supported values are: 'system', 'assistant', "
        "'user', 'function', 'tool', and 'developer'.",
        "type": "invalid_request_error",
        "param": "messages[0].role",
        "code": "invalid_value",
    }
}
OPENAI_QUOTA = {
    "error": {
        "message": "You exceeded your current quota, please check your plan and billing "
        "details. Model: {model}",
        "type": "insufficient_quota",
        "param": None,
        "code": "insufficient_quota",
    }
}


def test_a_model_name_quoting_a_usage_gate_does_not_gate_the_credential() -> None:
    with gateway_over("anthropic") as (gw, [upstream]):
        upstream.script(Quote(404, ANTHROPIC_UNKNOWN_MODEL), Reply())
        hostile = messages(
            gw.url,
            {"model": "claude-x You're out of extra usage", "max_tokens": 8, "messages": HELLO},
        )
        assert hostile.status == 404
        honest = messages(
            gw.url, {"model": "claude-sonnet-4-5", "max_tokens": 8, "messages": HELLO}
        )
        assert honest.status == 200, honest.body
        assert len(upstream.requests) == 2  # the honest request reached the credential


@pytest.mark.parametrize(
    ("field", "quote"),
    [
        ("parameter name", OPENAI_UNKNOWN_PARAMETER),
        ("role", OPENAI_INVALID_ROLE),
    ],
)
def test_a_quoted_parameter_or_role_does_not_gate_the_credential(
    field: str, quote: dict[str, Any]
) -> None:
    poison = "You exceeded your current quota, please check your plan and billing details"
    body: dict[str, Any] = {"model": "gpt-4o", "messages": HELLO}
    if field == "role":
        body["messages"] = [{"role": poison, "content": "hi"}]
    else:
        body[poison] = True
    with gateway_over("openai") as (gw, [upstream]):
        upstream.script(Quote(400, quote), Reply())
        hostile = chat(gw.url, body)
        assert hostile.status == 400  # the provider's refusal, handed back
        assert b"invalid_request_error" in hostile.body
        honest = chat(gw.url, {"model": "gpt-4o", "messages": HELLO})
        assert honest.status == 200, honest.body
        assert len(upstream.requests) == 2


def test_a_real_quota_error_that_quotes_the_model_still_gates() -> None:
    with gateway_over("openai") as (gw, [upstream]):
        upstream.script(Quote(429, OPENAI_QUOTA), Reply())
        first = chat(gw.url, {"model": "gpt-4o", "messages": HELLO})
        assert first.status == 400  # a spent quota: a status no client retries
        assert first.json()["error"]["code"] == "insufficient_quota"  # type: ignore[index]
        second = chat(gw.url, {"model": "gpt-4o", "messages": HELLO})
        assert second.status == 400
        assert len(upstream.requests) == 1  # the gated credential was not called again


def test_quotes_are_masked_however_the_provider_escapes_or_cuts_them() -> None:
    poison = 'x" exceeded your current quota \u00e9'
    echo = ClientEcho({"model": "m", poison: 1, "stop": "insufficient_quota " + "a" * 400})
    escaped = json.dumps({"error": {"message": f"Unknown name {json.dumps(poison)}"}})
    assert "exceeded" not in (echo.mask(escaped) or "")
    cut = "insufficient_quota " + "a" * 80 + "..."
    masked = echo.mask(json.dumps({"error": {"message": f"bad stop '{cut}'", "param": "stop"}}))
    assert masked is not None
    assert "insufficient" not in masked
    plain = "Unrecognized request argument supplied: " + poison
    assert "quota" not in (echo.mask(plain) or "")
    assert echo.mask('{"error": {"message": "You exceeded your current quota"}}') is None


def test_the_apis_own_words_are_not_masked() -> None:
    echo = ClientEcho({"model": "claude-x", "messages": [{"role": "user", "content": "hi"}]})
    masked = echo.mask('{"error": {"type": "not_found_error", "message": "model: claude-x"}}')
    assert masked is not None
    assert "model: " in masked
    assert "claude-x" not in masked


def test_a_request_too_large_to_check_may_fail_over_but_never_gates() -> None:
    echo = ClientEcho({f"p{i}": "v" for i in range(20)}, limit=10)
    provider = ProviderConfig(name="p", kind="openai", base_url="http://127.0.0.1:1/v1")
    quota = UpstreamHTTPError(
        "quota", status=429, body=json.dumps(OPENAI_QUOTA).replace("{model}", "m")
    )
    diagnosis, trusted = read_failure(quota, provider, "m", echo)
    assert diagnosis.category is Category.QUOTA
    assert not trusted
    assert echo.untrusted
    _, trusted = read_failure(quota, provider, "m", ClientEcho({"model": "m"}))
    assert trusted


# --- accounting: every request leaves its row, budgets outlive the process ----------------


def paid_config(
    ledger: Path, upstream: RunningUpstream, model: str = "gpt-4o", **extra: Any
) -> str:
    provider = {"kind": "openai", "base_url": upstream.url + "/v1", **extra}
    return yaml.safe_dump(
        {"ledger": str(ledger), "providers": {"paid": provider}, "routes": {"m": [f"paid/{model}"]}}
    )


def keyed(secret: str, **headers: str) -> dict[str, str]:
    return {"authorization": f"Bearer {secret}", **headers}


def test_requests_sharing_a_client_request_id_each_keep_their_row(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.sqlite3"
    with RunningUpstream() as up, running_gateway(paid_config(ledger, up)) as gw:
        for _ in range(36):
            reply = chat(gw.url, {"model": "m", "messages": HELLO}, {"x-request-id": "abc"})
            assert reply.status == 200
            assert reply.headers["x-request-id"].startswith("abc.")
    with sqlite3.connect(ledger) as conn:
        ids = [row[0] for row in conn.execute("SELECT id FROM requests")]
    assert len(ids) == 36
    assert len(set(ids)) == 36


def test_a_key_budget_outlives_a_restart(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.sqlite3"
    price = price_of("gpt-4o")
    assert price is not None
    secret = make_key(ledger, "team", budget_usd=price.cost(10, 500) * 2.5, budget_period="day")
    body = {"model": "m", "max_tokens": 5, "messages": HELLO}
    with RunningUpstream() as up:
        up.script(Reply(usage=(10, 500)))
        with running_gateway(paid_config(ledger, up)) as gw:
            for _ in range(3):  # the third is admitted on the two before: it overspends
                assert chat(gw.url, body, keyed(secret, **{"x-request-id": "same"})).status == 200
        with running_gateway(paid_config(ledger, up)) as gw:
            refused = chat(gw.url, body, keyed(secret))
    assert refused.status == 429
    assert refused.json()["error"]["code"] == "gateway_budget_exhausted"  # type: ignore[index]
    assert len(up.requests) == 3


# --- budgets fail closed ------------------------------------------------------------------


@pytest.mark.parametrize("budget", ["nan", "inf", "-1"])
def test_keys_create_refuses_a_budget_that_is_not_dollars(tmp_path: Path, budget: str) -> None:
    config = tmp_path / "turnout.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "ledger": str(tmp_path / "ledger.sqlite3"),
                "providers": {"m": {"kind": "mock"}},
                "routes": {"x": ["m/x"]},
            }
        )
    )
    created = subprocess.run(
        [sys.executable, "-m", "turnout", "keys", "create", "bot", "--budget", budget],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={**os.environ, "TURNOUT_CONFIG": str(config)},
    )
    assert created.returncode != 0
    assert "budget" in created.stderr
    assert "tk-" not in created.stdout


@pytest.mark.parametrize("usd", [".nan", ".inf", "-1"])
def test_a_provider_budget_must_be_dollars(usd: str) -> None:
    text = f"providers:\n  p: {{kind: mock, budget: {{usd: {usd}}}}}\nroutes:\n  x: [p/x]\n"
    with pytest.raises(ConfigError, match="usd"):
        load_config_text(text, "<test>", {})


def test_a_budgeted_key_may_not_reach_a_model_without_a_price(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.sqlite3"
    secret = make_key(ledger, "team", budget_usd=5.0, budget_period="day")
    with RunningUpstream() as up, running_gateway(paid_config(ledger, up, "house-llm-7b")) as gw:
        refused = chat(gw.url, {"model": "m", "messages": HELLO}, keyed(secret))
        assert refused.status == 403
        assert refused.json()["error"]["code"] == "unpriced_model"  # type: ignore[index]
        assert up.requests == []


def test_a_path_budget_skips_a_model_without_a_price(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.sqlite3"
    budget = {"usd": 5.0, "period": "day"}
    with RunningUpstream() as up:
        with running_gateway(paid_config(ledger, up, "house-llm-7b", budget=budget)) as gw:
            reply = chat(gw.url, {"model": "m", "messages": HELLO})
        assert reply.status == 400
        assert reply.headers["x-turnout-attempts"] == "paid:skipped(quota)"
        assert reply.json()["error"]["turnout"]["code"] == "spend_limit"  # type: ignore[index]
        assert up.requests == []


# --- count_tokens is a request like any other -----------------------------------------------


def test_count_tokens_is_admitted_by_the_key_and_recorded(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.sqlite3"
    secret = make_key(ledger, "counter", routes=("m",), rpm=2, budget_usd=1.0, budget_period="day")
    with RunningUpstream() as up:
        provider = {"kind": "anthropic", "base_url": up.url}
        config = yaml.safe_dump(
            {
                "ledger": str(ledger),
                "providers": {"a": provider},
                "routes": {"m": ["a/claude-sonnet-4-5"], "other": ["a/claude-opus-4-1"]},
            }
        )
        with running_gateway(config) as gw:

            def count(model: str) -> HttpReply:
                body = {"model": model, "messages": HELLO}
                headers = {**ANTHROPIC_HEADERS, **keyed(secret)}
                return request(gw.url, "POST", "/v1/messages/count_tokens", body, headers)

            assert count("other").status == 403  # not on this key's route list
            counted = count("m")
            assert counted.status == 200
            assert counted.headers["x-turnout-path"] == "a/claude-sonnet-4-5"
            assert messages(gw.url, {"model": "m", "max_tokens": 8, "messages": HELLO},
                            keyed(secret)).status == 200  # fmt: skip
            assert count("m").status == 429  # the key's two requests a minute are used
    assert [r.path for r in up.requests] == ["/v1/messages/count_tokens", "/v1/messages"]
    with sqlite3.connect(ledger) as conn:
        rows = conn.execute(
            "SELECT status, route, path, notes FROM requests ORDER BY rowid"
        ).fetchall()
    counts = [
        (status, route, path) for status, route, path, notes in rows if "count_tokens" in notes
    ]
    assert counts == [(403, "other", None), (200, "m", "a/claude-sonnet-4-5"), (429, "m", None)]


# --- bounded memory for everything keyed by client input ------------------------------------

PATTERN_CONFIG = "providers:\n  p: {kind: mock}\nroutes:\n  fixed: [p/known-model]\n  '*': [p/*]\n"
NOW = 1_000_000.0


def invented(i: int) -> RequestRecord:
    """What the ledger records for a made-up model name on the pattern route."""
    path = f"p/made-up-{i}"
    return RequestRecord(
        id=f"r{i}", ts=NOW, model=f"made-up-{i}", route="*", client_dialect="openai",
        stream=False, status=404, outcome="model_not_found", category="model_not_found",
        attempts=[AttemptRecord(path, "model_not_found", "model_not_found")],
    )  # fmt: skip


def path_labels(exposition: bytes) -> set[str]:
    return {
        sample.labels["path"]
        for family in text_string_to_metric_families(exposition.decode())
        for sample in family.samples
        if "path" in sample.labels
    }


def test_ten_thousand_model_names_leave_bounded_series_rows_and_marks() -> None:
    asyncio.run(asyncio.wait_for(_ten_thousand_names(), 60))


async def _ten_thousand_names() -> None:
    gateway = Gateway.build(load_config_text(PATTERN_CONFIG, "<test>", {}), Shared())
    not_found = diagnose(status=404, body='{"error": {"code": "model_not_found"}}')
    for i in range(10_000):
        gateway.shared.records.publish(invented(i))
        await gateway.health.failed(f"p/made-up-{i}", not_found, 600, gated=True)
    gateway.shared.records.publish(
        replace(invented(0), attempts=[AttemptRecord("p/known-model", "ok")])
    )
    marks = await gateway.health.snapshot()
    assert len(marks) <= MAX_MARKS
    labels = path_labels(gateway.shared.telemetry.exposition({}, {}, {}))
    assert "p/known-model" in labels  # a configured path always keeps its own name
    assert f"p/{OTHER_MODELS}" in labels
    assert len(labels) <= DYNAMIC_PATHS + 3  # the two above and "none"
    snapshot = snapshot_of(gateway, marks, NOW)
    shown = {p["path"] for route in snapshot["routes"] for p in route["paths"]}
    assert len(shown) <= DYNAMIC_PATHS + 2
    assert len(snapshot["traffic"]["paths"]) <= DYNAMIC_PATHS + 2


def test_metrics_count_invented_model_names_under_one_label() -> None:
    with gateway_over("openai") as (gw, [upstream]):
        upstream.script(Reply())
        for i in range(DYNAMIC_PATHS + 16):
            assert chat(gw.url, {"model": f"made-up-{i}", "messages": HELLO}).status == 200
        scraped = request(gw.url, "GET", "/metrics")
        state = request(gw.url, "GET", "/dashboard/state")
    labels = path_labels(scraped.body)
    assert f"p0/{OTHER_MODELS}" in labels
    assert len(labels - {"none"}) == DYNAMIC_PATHS + 1
    rows = state.json()["routes"][0]["paths"]  # type: ignore[index]
    assert len(rows) == DYNAMIC_PATHS


def test_open_dashboards_share_one_snapshot_a_second() -> None:
    asyncio.run(asyncio.wait_for(_one_snapshot_a_second(), 20))


async def _one_snapshot_a_second() -> None:
    gateway = Gateway.build(load_config_text(PATTERN_CONFIG, "<test>", {}), Shared())
    clock = [0.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    views = AdminViews(lambda: gateway, clock=lambda: clock[0], sleep=sleep)
    first = await views.snapshot()
    assert all([await views.snapshot() is first for _ in range(100)])  # nothing new: no build
    gateway.shared.records.publish(invented(1))
    clock[0] += 0.25
    fresh = await views.snapshot()  # news: waits for the next build rather than adding one
    assert slept == [0.75]
    assert fresh is not first
    assert json.loads(fresh)["totals"]["requests"] == 1
    assert await views.snapshot() is fresh


# --- a key sees only what is its own ----------------------------------------------------------

ORG_LIMITS = {"x-ratelimit-remaining-requests": "4999", "x-ratelimit-limit-tokens": "800000"}


def tenants_config(ledger: Path, upstream: RunningUpstream, pattern: bool = True) -> str:
    provider = {"kind": "openai", "base_url": upstream.url + "/v1"}
    routes = {"team-a": ["shared/gpt-4o"], "team-b": ["shared/gpt-4o-mini"]}
    if pattern:
        routes["*"] = ["shared/*"]
    return yaml.safe_dump(
        {"ledger": str(ledger), "providers": {"shared": provider}, "routes": routes}
    )


def test_a_restricted_key_is_told_only_of_its_routes(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.sqlite3"
    secret = make_key(ledger, "a", routes=("team-a",))
    with RunningUpstream() as up, running_gateway(tenants_config(ledger, up, False)) as gw:
        listed = request(gw.url, "GET", "/v1/models", headers=keyed(secret)).json()
        other = request(gw.url, "GET", "/v1/models/team-b", headers=keyed(secret))
        unknown = chat(gw.url, {"model": "nope", "messages": HELLO}, keyed(secret))
        own = request(gw.url, "GET", "/v1/models/team-a", headers=keyed(secret))
    assert [m["id"] for m in listed["data"]] == ["team-a"]  # type: ignore[index]
    assert other.status == 404
    assert own.json()["paths"] == ["shared/gpt-4o"]  # type: ignore[index]
    assert unknown.status == 404
    assert b"team-a" in unknown.body
    assert b"team-b" not in unknown.body


def test_a_key_never_sees_another_tenants_failure_or_the_base_url(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.sqlite3"
    a, b = make_key(ledger, "a"), make_key(ledger, "b", routes=("team-b",))
    with RunningUpstream() as up, running_gateway(tenants_config(ledger, up)) as gw:
        up.script(Quote(429, OPENAI_QUOTA))  # the shared credential runs out
        chat(gw.url, {"model": "acme-secret-finetune", "messages": HELLO}, keyed(a))
        told = chat(gw.url, {"model": "team-b", "messages": HELLO}, keyed(b))
        paths = request(gw.url, "GET", "/turnout/paths", headers=keyed(b))
    assert told.status == 400
    assert told.json()["error"]["turnout"]["code"] == "insufficient_quota"  # type: ignore[index]
    for shown in (told.body, paths.body, json.dumps(told.headers).encode()):
        assert b"acme-secret-finetune" not in shown
        assert up.url.removeprefix("http://").encode() not in shown
    assert [p["path"] for p in paths.json()["paths"]] == ["shared"]  # type: ignore[index]


def test_the_organisations_rate_limit_headers_are_not_relayed_to_a_key(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.sqlite3"
    with RunningUpstream() as up:
        up.script(Reply(headers=ORG_LIMITS))
        with running_gateway(tenants_config(ledger, up)) as gw:
            personal = chat(gw.url, {"model": "team-a", "messages": HELLO})
            assert personal.headers["x-ratelimit-remaining-requests"] == "4999"
            secret = make_key(ledger, "a")
            gw.gateway.shared.keyring.replace(KeyStore(open_database(str(ledger))).all())
            for stream in (False, True):
                body = {"model": "team-a", "messages": HELLO, "stream": stream}
                keyed_reply = chat(gw.url, body, keyed(secret))
                assert keyed_reply.status == 200
                assert not any(h.startswith("x-ratelimit-") for h in keyed_reply.headers)


# --- the keyless default answers this machine's programs, not a web page ----------------------


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain; charset=json",  # a simple request: no preflight, yet it says "json"
        "application/x-www-form-urlencoded; x=json",
        None,  # a page posting a Blob with no type sends no Content-Type at all
    ],
)
def test_a_cross_site_form_or_blob_cannot_use_the_keyless_gateway(content_type: str | None) -> None:
    with gateway_over("openai") as (gw, [upstream]):
        host, port = gw.url.removeprefix("http://").split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        headers = {"origin": "https://evil.example"}
        if content_type is not None:
            headers["content-type"] = content_type
        body = json.dumps({"model": "gpt-4o", "messages": HELLO}).encode()
        try:
            connection.request("POST", "/v1/chat/completions", body=body, headers=headers)
            status = connection.getresponse().status
        finally:
            connection.close()
        assert status == 415
        ok = chat(gw.url, {"model": "gpt-4o", "messages": HELLO},
                  {"content-type": "application/json; charset=utf-8"})  # fmt: skip
        assert ok.status == 200
        assert len(upstream.requests) == 1


@pytest.mark.parametrize("host", ["attacker.example", "attacker.example:{port}", "10.0.0.1"])
def test_a_rebound_name_cannot_reach_the_keyless_gateway(host: str) -> None:
    with gateway_over("openai") as (gw, [upstream]):
        port = gw.url.rsplit(":", 1)[1]
        named = {"host": host.format(port=port)}
        assert chat(gw.url, {"model": "gpt-4o", "messages": HELLO}, named).status == 403
        assert request(gw.url, "GET", "/v1/models", headers=named).status == 403
        assert request(gw.url, "GET", "/dashboard/state", headers=named).status == 403
        for own in (f"127.0.0.1:{port}", f"localhost:{port}", "turnout.localhost"):
            assert request(gw.url, "GET", "/v1/models", headers={"host": own}).status == 200
        assert upstream.requests == []


def test_the_dashboard_answers_its_own_origin_only() -> None:
    with gateway_over("openai") as (gw, _):
        port = gw.url.rsplit(":", 1)[1]
        own = {"host": f"127.0.0.1:{port}", "origin": f"http://127.0.0.1:{port}"}
        assert request(gw.url, "GET", "/dashboard/state", headers=own).status == 200
        for origin in ("https://evil.example", "null", f"http://localhost:{port}"):
            crossed = {**own, "origin": origin}
            assert request(gw.url, "GET", "/dashboard/state", headers=crossed).status == 403
            assert request(gw.url, "GET", "/metrics", headers=crossed).status == 403


def test_a_quote_is_masked_even_where_lower_case_is_longer() -> None:
    poison = "\u0130 exceeded your current quota"  # İ lower-cases to two characters
    echo = ClientEcho({"model": poison})
    masked = echo.mask(json.dumps({"error": {"message": f"model: {poison}"}}))
    assert masked is not None
    assert "quota" not in masked
    assert "model: " in masked


def test_a_quote_is_masked_when_the_provider_evens_out_its_whitespace() -> None:
    poison = "exceeded\tyour   current\nquota"  # the rules read whitespace as one space
    echo = ClientEcho({"model": "m", poison: 1})
    masked = echo.mask('{"error": {"message": "Unknown name exceeded your current quota"}}')
    assert masked is not None
    assert "quota" not in masked


def test_a_continuation_quoting_the_client_does_not_gate_the_credential(tmp_path: Path) -> None:
    poison = "You exceeded your current quota, please check your plan and billing details"
    # A relay that throttles, quoting the request it throttled.
    throttled = {"type": "error", "error": {"type": "rate_limit_error",
                 "message": "slow down; your request carried {param}"}}  # fmt: skip
    with RunningUpstream() as primary, RunningUpstream() as spare:
        config = yaml.safe_dump(
            {
                "ledger": str(tmp_path / "ledger.sqlite3"),
                "defaults": {"retries": 0, "backoff_s": 0.01},
                "providers": {
                    "primary": {"kind": "anthropic", "base_url": primary.url},
                    "spare": {"kind": "anthropic", "base_url": spare.url},
                },
                "routes": {"m": ["primary/model-a", "spare/model-b"]},
            }
        )
        with running_gateway(config) as gw:
            primary.script(Cut(after_events=5, text="alpha beta gamma delta"))
            spare.script(Quote(429, throttled))
            body = {"model": "m", "max_tokens": 50, "stream": True, "messages": HELLO, poison: 1}
            broken = messages(gw.url, body)
            assert broken.status == 200  # the stream had begun; it ends with an error event
            assert len(spare.requests) == 1  # the continuation was asked of the spare
            marks = request(gw.url, "GET", "/turnout/paths").json()["paths"]  # type: ignore[index]
    held = {mark["path"]: (mark["scope"], mark["category"]) for mark in marks}
    assert "spare" not in held  # its credential is not gated for everyone
    assert held["spare/model-b"] == ("path", "rate_limit")  # what the relay said: slow down
