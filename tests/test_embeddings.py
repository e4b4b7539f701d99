"""`POST /v1/embeddings` along a route: the same retries, failover and ledger as chat, on the
paths that offer embeddings (OpenAI-compatible ones); relayed as they came."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import openai
import pytest
import yaml

from tests.clients import Clients
from tests.fakes import Fail, Reply, RunningUpstream
from tests.gateway import gateway_over, running_gateway
from turnout.config.load import ConfigErrors
from turnout.providers.mock import MockProvider
from turnout.providers.registry import KINDS
from turnout.runtime.configs import load_config_text

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
            "routes": {"embed": ["p0/text-embedding-3-small", "p1/text-embedding-3-small"]},
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
            "text-embedding-3-small",
            ["alpha", "beta gamma"],
        )
    with sqlite3.connect(ledger) as conn:
        [(path, tokens_in, outcome)] = conn.execute(
            "SELECT path, tokens_in, outcome FROM requests"
        ).fetchall()
    assert (path, tokens_in, outcome) == ("p1/text-embedding-3-small", 7, "ok")


def test_a_chat_route_asked_for_embeddings_says_no_path_offers_them(clients: Clients) -> None:
    routes = {"m": ["p0/claude-haiku-4-5"], "vectors": ["p1/text-embedding-3-small"]}
    with gateway_over("anthropic", "openai", routes=routes) as (gw, [claude, oai]):
        with pytest.raises(openai.BadRequestError) as caught:
            clients.openai(gw.url).embeddings.create(model="m", input="hi")
        error = caught.value.response.json()["error"]
        assert error["message"] == (
            "turnout: no path of model route 'm' can serve embeddings: p0/claude-haiku-4-5 "
            "(kind anthropic) has no embeddings API. Ask a route whose paths offer them "
            "(providers here that do: p1)."
        )
        assert (error["type"], error["code"]) == ("invalid_request_error", "cannot_embed")
        assert claude.requests == oai.requests == []


def test_a_failover_onto_a_path_that_cannot_embed_names_it_in_the_failure(
    clients: Clients,
) -> None:
    with gateway_over("openai", "anthropic", route="m", defaults={"retries": 0}) as (
        gw,
        [first, second],
    ):
        first.script(QUOTA)
        with pytest.raises(openai.APIStatusError) as caught:
            clients.openai(gw.url).embeddings.create(model="m", input="hi")
        assert caught.value.status_code == 400
        error = caught.value.response.json()["error"]
        assert (error["type"], error["code"]) == ("insufficient_quota", "insufficient_quota")
        assert error["message"].startswith("turnout: Quota exceeded"), error
        assert caught.value.response.headers["x-turnout-attempts"] == "p0:quota -> p1:skipped"
        assert second.requests == []


PROVIDERS = {
    "oai": {"kind": "openai", "base_url": "https://api.openai.com/v1"},
    "relay": {"kind": "openai", "base_url": "https://relay.example/v1"},
    "local": {"kind": "openai", "base_url": "http://127.0.0.1:11434/v1"},
    "claude": {"kind": "anthropic", "base_url": "https://api.anthropic.com"},
    "demo": {"kind": "mock"},
}


def problems(routes: dict[str, Any]) -> list[str]:
    """What loading a config of these routes refuses (what `config check` and `serve` say)."""
    text = yaml.safe_dump({"providers": PROVIDERS, "routes": routes}, sort_keys=False)
    try:
        load_config_text(text, "<test>")
    except ConfigErrors as found:
        return [f"{e.line}: {e.message} | {e.hint}" for e in found.errors]
    return []


def test_an_embeddings_route_may_fail_over_only_between_providers_of_one_model() -> None:
    assert (
        problems(
            {
                "embed": ["oai/text-embedding-3-small", "relay/openai/text-embedding-3-small"],
                "vectors": {"targets": ["local/bge-m3", "local/bge-m3"], "embeddings": True},
                "chat": ["oai/gpt-4o", "claude/claude-sonnet-4-5"],
                "embedder": {"targets": ["oai/gpt-4o", "claude/x"], "embeddings": False},
            }
        )
        == []
    )


def test_an_embeddings_route_with_an_anthropic_fallback_is_refused() -> None:
    [problem] = problems({"embed": ["oai/text-embedding-3-small", "claude/claude-haiku-4-5"]})
    assert problem == (
        "19: routes.embed[1]: claude/claude-haiku-4-5 cannot serve embeddings (kind anthropic "
        "has no embeddings API), and routes.embed is an embeddings route (its name 'embed' "
        "says embed): a /v1/embeddings request that fails over to it gets no vectors | list "
        "only paths whose provider embeds (kinds: azure, mock, openai); if routes.embed is "
        "for chat, say embeddings: false on it"
    )


def test_an_embeddings_route_is_known_by_its_models_or_by_saying_so() -> None:
    by_model = problems({"search": ["claude/x", "oai/nomic-embed-text"]})
    said = problems({"search": {"targets": ["oai/e5", "claude/x"], "embeddings": True}})
    assert [p.split(" | ")[0] for p in by_model + said] == [
        "18: routes.search[0]: claude/x cannot serve embeddings (kind anthropic has no "
        "embeddings API), and routes.search is an embeddings route (its model "
        "'nomic-embed-text' says embed): a /v1/embeddings request that fails over to it gets "
        "no vectors",
        "20: routes.search.targets[1]: claude/x cannot serve embeddings (kind anthropic has no "
        "embeddings API), and routes.search is an embeddings route (it says embeddings: "
        "true): a /v1/embeddings request that fails over to it gets no vectors",
    ]


def test_paths_that_embed_otherwise_are_refused_in_one_route() -> None:
    found = problems(
        {
            "embed": [
                "oai/text-embedding-3-small",
                "oai/text-embedding-3-large",
                "demo/text-embedding-3-small",
            ]
        }
    )
    assert [p.split(": failing over")[0] for p in found] == [
        "19: routes.embed[1]: oai/text-embedding-3-large embeds otherwise than "
        "oai/text-embedding-3-small at routes.embed[0], with another model "
        "('text-embedding-3-large', not 'text-embedding-3-small')",
        "20: routes.embed[2]: demo/text-embedding-3-small embeds otherwise than "
        "oai/text-embedding-3-small at routes.embed[0], with another embeddings wire "
        "(mock, not openai)",
    ]
    assert "vectors of another space" in found[0]


def test_embeddings_must_be_true_or_false() -> None:
    [problem] = problems({"embed": {"targets": ["oai/e"], "embeddings": "yes"}})
    assert problem.startswith("20: routes.embed.embeddings is 'yes'")


def test_the_mock_provider_embeds_too(clients: Clients) -> None:
    config = "providers: {demo: {kind: mock}}\nroutes: {embed: [demo/e]}\nledger: 'off'\n"
    with running_gateway(config) as gw:
        first = clients.openai(gw.url).embeddings.create(model="embed", input="same text")
        again = clients.openai(gw.url).embeddings.create(model="embed", input="same text")
        assert first.data[0].embedding == again.data[0].embedding
        assert len(first.data[0].embedding) == 8


def test_the_kinds_that_embed_are_the_providers_that_offer_embeddings() -> None:
    """What `config check` holds a route to is what the relay will send."""
    offered = {"mock": "embeddings" in MockProvider.operations}
    offered |= {
        name: "embeddings" in getattr(kind.build, "operations", ())
        for name, kind in KINDS.items()
        if isinstance(kind.build, type)
    }
    assert set(offered) == set(KINDS)
    assert offered == {name: kind.embeddings is not None for name, kind in KINDS.items()}
    assert [name for name, yes in sorted(offered.items()) if yes] == ["azure", "mock", "openai"]
