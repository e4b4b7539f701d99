""" "Out of extra usage" that is really a refusal of one request's content: a one-token probe on
the same path decides before the path is gated."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import yaml

from tests.fakes import Fail, Reply, RunningUpstream
from tests.gateway import RunningGateway, request, running_gateway

EXTRA_USAGE = Fail(
    400,
    '{"type":"error","error":{"type":"invalid_request_error","message":"You\'re out of extra '
    'usage. Add more at claude.ai/settings/usage and keep going."}}',
)
ASK = {
    "model": "claude-sonnet-4-6",
    "max_tokens": 50,
    "messages": [{"role": "user", "content": "hi"}],
}


@contextmanager
def login_paths(count: int) -> Iterator[tuple[RunningGateway, list[RunningUpstream]]]:
    """A route over `count` Anthropic paths, the first signed in with a subscription login."""
    with ExitStack() as stack:
        ups = [stack.enter_context(RunningUpstream()) for _ in range(count)]
        keys = ["${LOGIN}", *["${KEY}"] * (count - 1)]
        providers = {
            f"p{i}": {"kind": "anthropic", "base_url": up.url, "api_key": key}
            for i, (up, key) in enumerate(zip(ups, keys, strict=True))
        }
        config = {
            "defaults": {"retries": 0},
            "providers": providers,
            "routes": {"*": [f"p{i}/*" for i in range(count)]},
        }
        env = {"LOGIN": "sk-ant-oat01-a-subscription-login", "KEY": "sk-ant-api03-a-key"}
        yield stack.enter_context(running_gateway(yaml.safe_dump(config), env=env)), ups


def test_a_refused_request_whose_probe_is_served_fails_over_alone() -> None:
    with login_paths(2) as (gw, [login, backup]):
        login.script(EXTRA_USAGE, Reply(text="probe answer"), Reply(text="The login still works."))
        backup.script(Reply(text="From the backup."))
        first = request(gw.url, "POST", "/v1/messages", ASK)
        second = request(gw.url, "POST", "/v1/messages", ASK)
        assert first.json()["content"][0]["text"] == "From the backup."  # type: ignore[index]
        assert second.json()["content"][0]["text"] == "The login still works."  # type: ignore[index]
        refused, probe, _ = login.requests
        assert refused.json["max_tokens"] == 50
        assert probe.json["max_tokens"] == 1
        assert probe.json["model"] == "claude-sonnet-4-6"
        assert request(gw.url, "GET", "/turnout/paths").json()["paths"] == []  # type: ignore[index]


def test_a_refused_request_with_no_other_path_is_told_its_content_was_refused() -> None:
    with login_paths(1) as (gw, [login]):
        login.script(EXTRA_USAGE, Reply(text="probe answer"))
        reply = request(gw.url, "POST", "/v1/messages", ASK)
    assert reply.status == 400
    message = reply.json()["error"]["message"]  # type: ignore[index]
    assert message.startswith("turnout: Blocked by the provider's content filter;")
    assert "a one-token probe on the same path was served" in message


def test_when_the_probe_is_refused_too_the_gate_is_real() -> None:
    with login_paths(2) as (gw, [login, backup]):
        login.script(EXTRA_USAGE)
        backup.script(Reply(text="From the backup."))
        for _ in range(2):
            assert request(gw.url, "POST", "/v1/messages", ASK).status == 200
        assert len(login.requests) == 2  # the request and its probe; then gated, not called
        [gate] = request(gw.url, "GET", "/turnout/paths").json()["paths"]  # type: ignore[index]
        assert (gate["state"], gate["code"]) == ("gated", "subscription_usage_gate")


def test_an_api_key_path_is_gated_on_these_words_without_a_probe() -> None:
    with login_paths(2) as (gw, [login, keyed]):
        login.script(Fail(401, '{"type":"error","error":{"type":"authentication_error"}}'))
        keyed.script(EXTRA_USAGE)
        request(gw.url, "POST", "/v1/messages", ASK)
        assert len(keyed.requests) == 1  # only a subscription login draws on extra usage
