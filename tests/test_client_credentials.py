"""`api_key: client`: the client's own credential, forwarded as it came, gated per credential.

The first path is a fake Anthropic upstream that records which token each request carried; the
second is an API-key path. Two users' subscription tokens share the gateway.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import anthropic
import pytest
import yaml

from tests.fakes import Fail, Reply, RunningUpstream
from tests.gateway import RunningGateway, request, running_gateway

EXTRA_USAGE = Fail(
    400,
    '{"type":"error","error":{"type":"invalid_request_error","message":"You\'re out of extra '
    'usage. Add more at claude.ai/settings/usage and keep going."}}',
)
ALICE = "sk-ant-oat01-alice-token-0123456789"
BOB = "sk-ant-oat01-bobby-token-9876543210"
GATEWAY_KEY = "tk-team-gateway-key-000111"
PROMPT = [{"role": "user", "content": "hi"}]


@contextmanager
def login_then_key(
    gateway_keys: bool = False,
) -> Iterator[tuple[RunningGateway, RunningUpstream, RunningUpstream]]:
    with ExitStack() as stack:
        login, keyed = (stack.enter_context(RunningUpstream()) for _ in range(2))
        config = {
            "defaults": {"retries": 0},
            "providers": {
                "login": {"kind": "anthropic", "base_url": login.url, "api_key": "client"},
                "keyed": {"kind": "anthropic", "base_url": keyed.url, "api_key": "${KEY}"},
            },
            "routes": {"*": ["login/*", "keyed/*"]},
        }
        if gateway_keys:
            config["server"] = {"keys": ["${GATEWAY_KEY}"]}
        env = {"KEY": "sk-ant-api-path-key", "GATEWAY_KEY": GATEWAY_KEY}
        gw = stack.enter_context(running_gateway(yaml.safe_dump(config), env=env))
        yield gw, login, keyed


def ask(gw: RunningGateway, token: str, **headers: str) -> str:
    client = anthropic.Anthropic(
        base_url=gw.url, auth_token=token, max_retries=0, timeout=10, default_headers=headers
    )
    with client:
        message = client.messages.create(model="claude-sonnet-4-6", max_tokens=5, messages=PROMPT)  # type: ignore[arg-type]
    block = message.content[0]
    assert block.type == "text"
    return block.text


def test_each_users_token_reaches_the_login_path_and_only_its_own_gate_holds() -> None:
    with login_then_key() as (gw, login, keyed):
        login.script(EXTRA_USAGE, EXTRA_USAGE, Reply(text="Bob on his login."))
        keyed.script(Reply(text="Alice on the API key."))
        assert ask(gw, ALICE) == "Alice on the API key."  # her login is out of extra usage
        assert ask(gw, BOB) == "Bob on his login."  # his is not gated by hers
        assert ask(gw, ALICE) == "Alice on the API key."  # remembered: no second call
        tokens = [r.headers["authorization"] for r in login.requests]
        assert tokens == [f"Bearer {ALICE}", f"Bearer {ALICE}", f"Bearer {BOB}"]  # her probe
        assert login.requests[1].json["max_tokens"] == 1
        assert all("oauth-2025-04-20" in r.headers["anthropic-beta"] for r in login.requests)
        assert [r.headers.get("x-api-key") for r in keyed.requests] == ["sk-ant-api-path-key"] * 2
        assert all("authorization" not in r.headers for r in keyed.requests)
        paths = request(gw.url, "GET", "/turnout/paths")
        assert ALICE not in paths.body.decode()
        assert BOB not in paths.body.decode()
        [gate] = paths.json()["paths"]  # type: ignore[index]
        assert gate["path"].startswith("login@")
        assert gate["state"] == "gated"


def test_an_api_key_the_client_sends_goes_in_the_header_it_came_in() -> None:
    with login_then_key() as (gw, login, _):
        body = {"model": "m", "max_tokens": 5, "messages": PROMPT}
        reply = request(gw.url, "POST", "/v1/messages", body, {"x-api-key": "sk-ant-api03-own"})
        assert reply.status == 200
        [sent] = login.requests
        assert sent.headers["x-api-key"] == "sk-ant-api03-own"
        assert "authorization" not in sent.headers


def test_with_gateway_keys_the_own_credential_travels_beside_x_turnout_key() -> None:
    with login_then_key(gateway_keys=True) as (gw, login, keyed):
        login.script(Reply(text="On the login."))
        keyed.script(Reply(text="On the API key."))
        assert ask(gw, ALICE, **{"x-turnout-key": GATEWAY_KEY}) == "On the login."
        # The bearer is the gateway key itself: the login path has no credential to send.
        assert ask(gw, GATEWAY_KEY) == "On the API key."
        assert [r.headers["authorization"] for r in login.requests] == [f"Bearer {ALICE}"]
        everything = [v for r in login.requests + keyed.requests for v in r.headers.values()]
        assert not any(GATEWAY_KEY in value for value in everything)
        with pytest.raises(anthropic.AuthenticationError):
            ask(gw, ALICE)  # her token is no gateway key
