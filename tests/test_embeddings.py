"""`POST /v1/embeddings` along a route: the same retries, failover and ledger as chat, on the
paths that offer embeddings (OpenAI-compatible ones); relayed as they came."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import openai
import pytest
import yaml

from tests.clients import Clients
from tests.fakes import Fail, Reply, RunningUpstream
from tests.gateway import gateway_over, running_gateway

QUOTA = Fail(
    429,
    '{"error":{"message":"You exceeded your current quota.","type":"insufficient_quota",'
    '"param":null,"code":"insufficient_quota"}}',
)


def test_embeddings_fail_over_to_the_next_path_and_are_recorded(
    clients: Clients, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger.sqlite3"
    with RunningUpstream() as gated, RunningUpstream() as spare:
        gated.script(QUOTA)
        spare.script(Reply(usage=(7, 0)))
        config = {
            "ledger": str(ledger),
            "defaults": {"retries": 0},
            "providers": {
                name: {"kind": "openai", "base_url": up.url + "/v1", "api_key": "${KEY}"}
                for name, up in (("p0", gated), ("p1", spare))
            },
            "routes": {"embed": ["p0/e1", "p1/e2"]},
        }
        with running_gateway(yaml.safe_dump(config), env={"KEY": "sk-fake"}) as gw:
            raw = clients.openai(gw.url).embeddings.with_raw_response.create(
                model="embed", input=["alpha", "beta gamma"], encoding_format="float"
            )
        result = raw.parse()
        assert [d.embedding for d in result.data] == [[0.5, -0.25, 5.0], [0.5, -0.25, 10.0]]
        assert raw.headers["x-turnout-attempts"] == "p0:quota -> p1:ok"
        [sent] = spare.requests
        assert (sent.path, sent.json["model"], sent.json["input"]) == (
            "/v1/embeddings",
            "e2",
            ["alpha", "beta gamma"],
        )
    with sqlite3.connect(ledger) as conn:
        [(path, tokens_in, outcome)] = conn.execute(
            "SELECT path, tokens_in, outcome FROM requests"
        ).fetchall()
    assert (path, tokens_in, outcome) == ("p1/e2", 7, "ok")


def test_a_route_without_an_embeddings_path_says_so(clients: Clients) -> None:
    with gateway_over("anthropic", route="embed") as (gw, [up]):
        with pytest.raises(openai.BadRequestError) as caught:
            clients.openai(gw.url).embeddings.create(model="embed", input="hi")
        error = caught.value.response.json()["error"]
        assert "cannot serve embeddings" in error["message"]
        assert up.requests == []


def test_the_mock_provider_embeds_too(clients: Clients) -> None:
    config = "providers: {demo: {kind: mock}}\nroutes: {embed: [demo/e]}\nledger: 'off'\n"
    with running_gateway(config) as gw:
        first = clients.openai(gw.url).embeddings.create(model="embed", input="same text")
        again = clients.openai(gw.url).embeddings.create(model="embed", input="same text")
        assert first.data[0].embedding == again.data[0].embedding
        assert len(first.data[0].embedding) == 8
