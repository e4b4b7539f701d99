"""The azure kind against a fake Azure OpenAI on 127.0.0.1 that checks Azure's URL and key rules."""

from __future__ import annotations

import functools
import logging
import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import anthropic
import openai
import pytest

from tests.clients import Clients
from tests.clock import FakeClock
from tests.fakes.azure_wire import FILTERED_WORD, EntraApp, FakeAzure
from tests.gateway import RunningGateway, running_gateway
from turnout.catalog import Price, price_of
from turnout.config import ConfigError
from turnout.providers import azure
from turnout.providers.tokens import BearerRefresher
from turnout.runtime.configs import load_config_text

KEY = "azure-key-0123456789abcdef"


@contextmanager
def azure_gateway(extra: str = "") -> Iterator[tuple[RunningGateway, FakeAzure]]:
    deployments = {
        "prod-4o": "gpt-4o-2024-11-20",
        "gpt-4o-mini": "gpt-4o-mini",
        "embed-small": "text-embedding-3-small",
    }
    with FakeAzure(KEY, deployments) as fake:
        config = f"""
providers:
  az:
    kind: azure
    base_url: {fake.url}
    api_key: ${{AZ_KEY}}
    deployments: {{gpt-4o: prod-4o, text-embedding-3-small: embed-small}}
    {extra}
routes:
  m: {{targets: [az/gpt-4o]}}
  mini: {{targets: [az/gpt-4o-mini]}}
  vectors: {{targets: [az/text-embedding-3-small]}}
"""
        with running_gateway(config, env={"AZ_KEY": KEY}) as gateway:
            yield gateway, fake


def test_classic_path_carries_the_mapped_deployment_version_and_key(clients: Clients) -> None:
    with azure_gateway() as (gw, fake):
        reply = clients.openai(gw.url).chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}]
        )
        assert reply.choices[0].message.content == "hello from deployment prod-4o"
        sent = fake.requests[-1]
        assert sent.path == "/openai/deployments/prod-4o/chat/completions?api-version=2024-10-21"
        assert sent.headers["api-key"] == KEY
        assert "authorization" not in sent.headers


def test_an_unmapped_model_goes_to_the_deployment_of_its_own_name(clients: Clients) -> None:
    with azure_gateway() as (gw, fake):
        reply = clients.openai(gw.url).chat.completions.create(
            model="mini", messages=[{"role": "user", "content": "hi"}]
        )
        assert reply.choices[0].message.content == "hello from deployment gpt-4o-mini"
        assert fake.requests[-1].path.startswith("/openai/deployments/gpt-4o-mini/")


def test_embeddings_go_to_the_deployments_embeddings_endpoint(clients: Clients) -> None:
    with azure_gateway() as (gw, fake):
        result = clients.openai(gw.url).embeddings.create(
            model="vectors", input=["abc", "hello"], encoding_format="float"
        )
        assert [d.embedding for d in result.data] == [[0.25, 3.0], [0.25, 5.0]]
        sent = fake.requests[-1]
        assert sent.path == "/openai/deployments/embed-small/embeddings?api-version=2024-10-21"
        assert sent.headers["api-key"] == KEY


def test_v1_api_puts_the_deployment_in_the_body(clients: Clients) -> None:
    with azure_gateway("api_version: v1") as (gw, fake):
        reply = clients.openai(gw.url).chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}]
        )
        assert reply.choices[0].message.content == "hello from deployment prod-4o"
        sent = fake.requests[-1]
        assert sent.path == "/openai/v1/chat/completions"
        assert sent.json["model"] == "prod-4o"


def test_azure_stream_with_its_filter_results_chunk_reaches_both_dialects(
    clients: Clients,
) -> None:
    with azure_gateway() as (gw, _fake):
        stream = clients.openai(gw.url).chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        assert text.strip() == "hello from deployment prod-4o"
        with clients.anthropic(gw.url).messages.stream(
            model="m", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
        ) as events:
            assert events.get_final_text().strip() == "hello from deployment prod-4o"


def test_content_filter_answer_is_diagnosed_as_content_policy(clients: Clients) -> None:
    with azure_gateway() as (gw, _fake):
        client = clients.openai(gw.url)
        with pytest.raises(openai.BadRequestError) as raised:
            client.chat.completions.with_raw_response.create(
                model="m", messages=[{"role": "user", "content": f"tell me {FILTERED_WORD}"}]
            )
        assert raised.value.status_code == 400
        assert "content management policy" in str(raised.value)
        trail = raised.value.response.headers["x-turnout-attempts"]
        assert trail == "az:content_policy", trail
        with pytest.raises(anthropic.BadRequestError):
            clients.anthropic(gw.url).messages.create(
                model="m", max_tokens=50, messages=[{"role": "user", "content": FILTERED_WORD}]
            )


def test_wrong_key_is_an_auth_failure_not_a_retry(clients: Clients) -> None:
    with FakeAzure("another-key-0000000000", {"gpt-4o": "gpt-4o"}) as fake:
        config = f"""
providers:
  az: {{kind: azure, base_url: "{fake.url}", api_key: "${{AZ_KEY}}"}}
routes:
  m: {{targets: [az/gpt-4o]}}
"""
        with running_gateway(config, env={"AZ_KEY": KEY}) as gw:
            with pytest.raises(openai.APIStatusError) as raised:
                clients.openai(gw.url).chat.completions.create(
                    model="m", messages=[{"role": "user", "content": "hi"}]
                )
            assert "auth" in raised.value.response.headers["x-turnout-attempts"]
            assert len(fake.requests) == 1
            assert KEY not in raised.value.response.text


@pytest.mark.parametrize(
    ("table", "says"),
    [
        ("{kind: azure, api_key: '${K}'}", "needs base_url"),
        ("{kind: azure, resource: 'My_Res', api_key: '${K}'}", "not an Azure resource name"),
        ("{kind: azure, resource: r, api_version: latest, api_key: '${K}'}", "api_version"),
        ("{kind: azure, resource: r, deployments: [a], api_key: '${K}'}", "deployment names"),
        ("{kind: azure, base_url: 'https://r.openai.azure.com/openai/deployments/x'}", "API path"),
        ("{kind: openai, base_url: 'https://x/v1', deployments: {a: b}}", "unknown key"),
        ("{kind: azure, resource: r, auth: entra, tenant_id: t, client_id: c}", "no client_secret"),
        (
            "{kind: azure, resource: r, auth: entra, api_key: '${K}', tenant_id: t, client_id: c, "
            "client_secret: s}",
            "given with auth: entra",
        ),
        (
            "{kind: azure, resource: r, auth: entra, tenant_id: 'a/b', client_id: c, "
            "client_secret: s}",
            "is not a tenant",
        ),
        (
            "{kind: azure, resource: r, auth: entra, tenant_id: t, client_id: c, "
            "client_secret: s, authority: 'https://login.microsoftonline.com/t/oauth2'}",
            "authority is",
        ),
    ],
)
def test_azure_options_are_checked_by_the_kind(table: str, says: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config_text(f"providers: {{a: {table}}}\nroutes: {{m: [a/x]}}", "<t>", {"K": "k"})
    assert says in str(raised.value)


def test_resource_name_makes_the_endpoint() -> None:
    config = load_config_text(
        "providers: {a: {kind: azure, resource: contoso, api_key: '${K}'}}\nroutes: {m: [a/x]}",
        "<t>",
        {"K": "k"},
    )
    assert config.providers["a"].base_url == "https://contoso.openai.azure.com"


# Entra ID client credentials: the secret exchanged for tokens that expire on the test's clock.

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
CLIENT_ID = "0b7e7a0c-5c2b-4a1e-9a8a-3f0c1d2e4b6a"
CLIENT_SECRET = "Qx8~entra-client-secret-value-0123456789"
ENTRA_ENV = {"AZURE_CLIENT_SECRET": CLIENT_SECRET}


@contextmanager
def entra_gateway(
    monkeypatch: pytest.MonkeyPatch, secret: str = CLIENT_SECRET
) -> Iterator[tuple[RunningGateway, FakeAzure, FakeClock]]:
    clock = FakeClock()
    monkeypatch.setattr(azure, "BearerRefresher", functools.partial(BearerRefresher, clock=clock))
    app = EntraApp(TENANT, CLIENT_ID, secret)
    with FakeAzure(KEY, {"prod-4o": "gpt-4o-2024-11-20"}, entra=app, clock=clock) as fake:
        config = f"""
defaults: {{retries: 0}}
providers:
  az:
    kind: azure
    base_url: {fake.url}
    auth: entra
    authority: {fake.url}
    tenant_id: {TENANT}
    client_id: {CLIENT_ID}
    client_secret: ${{AZURE_CLIENT_SECRET}}
    deployments: {{gpt-4o: prod-4o}}
routes:
  m: {{targets: [az/gpt-4o]}}
"""
        with running_gateway(config, env=ENTRA_ENV) as gateway:
            yield gateway, fake, clock


def chat(clients: Clients, gw: RunningGateway) -> str:
    reply = clients.openai(gw.url).chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hi"}]
    )
    return str(reply.choices[0].message.content)


def test_entra_tokens_are_renewed_before_they_expire_once_for_a_burst(
    clients: Clients, monkeypatch: pytest.MonkeyPatch
) -> None:
    with entra_gateway(monkeypatch) as (gw, fake, clock):
        assert chat(clients, gw) == "hello from deployment prod-4o"
        assert fake.token_requests == 1
        sent = fake.requests[-1]
        assert sent.headers["authorization"].startswith("Bearer eyJ0eXAiOiJKV1Qi.entra-token-1")
        assert "api-key" not in sent.headers
        clock.advance(3200)  # about 6.6 minutes left: the token is still used
        chat(clients, gw)
        assert fake.token_requests == 1
        clock.advance(200)  # under the 5-minute margin: renewed, though still valid
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda _: chat(clients, gw), range(16)))
        assert answers == ["hello from deployment prod-4o"] * 16
        assert fake.token_requests == 2
        used = {r.headers["authorization"] for r in fake.requests if "deployments" in r.path}
        assert len(used) == 2
        clock.advance(3600)  # past the second token's life: a third, before any is refused
        chat(clients, gw)
        assert fake.token_requests == 3
        token_calls = [r for r in fake.requests if r.path.endswith("/oauth2/v2.0/token")]
        assert {r.path for r in token_calls} == {f"/{TENANT}/oauth2/v2.0/token"}
        assert all(
            r.headers["content-type"] == "application/x-www-form-urlencoded" for r in token_calls
        )


def test_a_refused_client_secret_is_an_auth_failure_and_never_shown(
    clients: Clients, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with entra_gateway(monkeypatch, secret="the-secret-entra-knows") as (gw, fake, _clock):
        with pytest.raises(openai.APIStatusError) as raised:
            clients.openai(gw.url).chat.completions.create(
                model="m", messages=[{"role": "user", "content": "hi"}]
            )
        answer = raised.value.response
        assert answer.status_code == 401
        assert "auth" in answer.headers["x-turnout-attempts"]
        # Entra's reason is read as the app registration's secret, not an API key.
        assert answer.json()["error"]["turnout"]["code"] == "entra_client_secret_invalid"
        assert fake.token_requests == 1
        assert not any("deployments" in r.path for r in fake.requests)  # no call without a token
        with pytest.raises(openai.APIStatusError):
            clients.openai(gw.url).chat.completions.create(
                model="m", messages=[{"role": "user", "content": "hi"}]
            )
    assert "AADSTS7000215" in answer.text  # Entra's reason is said...
    for shown in (answer.text, caplog.text, str(raised.value)):
        assert CLIENT_SECRET not in shown  # ...the secret never


def test_the_client_secret_is_a_secret_of_the_config() -> None:
    config = load_config_text(
        "providers: {a: {kind: azure, resource: r, auth: entra, tenant_id: contoso.onmicrosoft.com,"
        " client_id: c, client_secret: '${AZURE_CLIENT_SECRET}'}}\nroutes: {m: [a/x]}",
        "<t>",
        ENTRA_ENV,
    )
    assert CLIENT_SECRET in config.secrets()
    assert CLIENT_SECRET not in repr(config.providers["a"])
    assert config.providers["a"].options["authority"] == "https://login.microsoftonline.com"
    unset = load_config_text(
        "providers:\n  a: {kind: azure, resource: r, auth: entra, tenant_id: t, client_id: c,"
        " client_secret: '${AZURE_CLIENT_SECRET}'}\n  b: {kind: mock}\n"
        "routes: {m: [a/x, b/x]}",
        "<t>",
        {},
    )
    assert "AZURE_CLIENT_SECRET is not set" in unset.unavailable["a"][0]


def test_a_deployment_named_in_a_route_is_priced_as_the_model_it_serves() -> None:
    config = load_config_text(
        "providers:\n"
        "  az: {kind: azure, resource: r, api_key: '${K}', deployments: {gpt-4o: prod-4o}}\n"
        "  oa: {kind: openai, base_url: 'https://api.openai.com/v1', api_key: '${K}'}\n"
        "routes: {m: [az/prod-4o]}",
        "<t>",
        {"K": KEY},
    )
    assert price_of("prod-4o") is None  # the deployment's own name is no model
    assert config.price_of("az", "prod-4o") == price_of("gpt-4o")
    assert config.price_of("az", "gpt-4o") == price_of("gpt-4o")
    assert config.price_of("az", "gpt-4o-mini") == price_of("gpt-4o-mini")  # unmapped: itself
    assert config.price_of("oa", "prod-4o") is None  # the map is that path's alone
    mine = Price(1.0, 2.0, 0.5)
    priced = load_config_text(
        "providers: {az: {kind: azure, resource: r, api_key: '${K}', deployments: {gpt-4o: prod-4o}}}"
        "\nroutes: {m: [az/prod-4o]}\nprices: {prod-4o: {input: 1, output: 2, cached: 0.5}}",
        "<t>",
        {"K": KEY},
    )
    assert priced.price_of("az", "prod-4o") == mine  # a price given to the deployment wins


def test_a_route_to_a_deployment_is_charged_and_budgeted_at_its_models_price(
    clients: Clients, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger.sqlite3"
    with FakeAzure(KEY, {"prod-4o": "gpt-4o-2024-11-20"}) as fake:
        config = f"""
ledger: {ledger}
providers:
  az:
    kind: azure
    base_url: {fake.url}
    api_key: ${{AZ_KEY}}
    deployments: {{gpt-4o: prod-4o}}
    budget: {{usd: 10, period: day}}
routes:
  m: {{targets: [az/prod-4o]}}
"""
        with running_gateway(config, env={"AZ_KEY": KEY}) as gw:
            reply = clients.openai(gw.url).chat.completions.create(
                model="m", messages=[{"role": "user", "content": "hi"}]
            )  # a path with a budget refuses a model it cannot price: this one it can
            assert reply.choices[0].message.content == "hello from deployment prod-4o"
    with sqlite3.connect(ledger) as conn:
        tokens_in, tokens_out, cached, cost = conn.execute(
            "SELECT tokens_in, tokens_out, tokens_cached, cost_usd FROM requests"
        ).fetchone()
    gpt_4o = price_of("gpt-4o")
    assert gpt_4o is not None
    assert tokens_in + tokens_out > 0
    assert cost == pytest.approx(gpt_4o.cost(tokens_in, tokens_out, cached))
    assert cost > 0
