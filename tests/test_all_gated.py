"""Every path gated: one answer that no client retries, with the explanation in the text clients
print (`error.message`), in the client's dialect and language.

The SDK clients here keep their default retries (two), so a status they would retry shows as
more than one request counted at the gateway.
"""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import openai
import pytest

from tests.fakes import Fail, RunningUpstream
from tests.gateway import RunningGateway, gateway_over, request

EXTRA_USAGE = Fail(
    400,
    '{"type":"error","error":{"type":"invalid_request_error","message":"You\'re out of extra '
    'usage. Add more at claude.ai/settings/usage and keep going."}}',
)
INSUFFICIENT_QUOTA = Fail(
    429,
    '{"error":{"message":"You exceeded your current quota, please check your plan and billing '
    'details.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}',
)
PROMPT = [{"role": "user", "content": "hi"}]


@pytest.fixture
def all_gated() -> Iterator[tuple[RunningGateway, list[RunningUpstream]]]:
    """A Claude subscription path out of extra usage, then an OpenAI path out of quota."""
    with gateway_over("anthropic", "openai", models=["claude-sonnet-4-6", "gpt-4o"]) as (gw, ups):
        ups[0].script(EXTRA_USAGE)
        ups[1].script(INSUFFICIENT_QUOTA)
        yield gw, ups


def requests_counted(gw: RunningGateway) -> int:
    return sum(gw.gateway.shared.telemetry.counts.requests.values())


def test_the_openai_sdk_gets_a_final_status_and_prints_what_will_not_help(
    all_gated: tuple[RunningGateway, list[RunningUpstream]],
) -> None:
    gw, _ = all_gated
    client = openai.OpenAI(base_url=gw.openai_base, api_key="anything", timeout=10)
    with client, pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="claude-sonnet-4-6", messages=PROMPT)  # type: ignore[arg-type]
    assert requests_counted(gw) == 1  # the SDK's own retries never fired
    error = caught.value
    assert error.response.headers["x-should-retry"] == "false"
    assert "retry-after" not in error.response.headers
    printed = str(error)
    assert "Subscription extra usage used up for this client" in printed
    assert "Will not help: Restarting the agent; Logging in again" in printed
    assert "the official app may still work" in printed
    assert "p0/claude-sonnet-4-6: quota (subscription_usage_gate)" in printed
    assert "p1/gpt-4o: quota (insufficient_quota)" in printed
    body = error.response.json()
    assert body["error"]["type"] == "insufficient_quota"  # OpenAI's word for it, at a 400


@pytest.mark.parametrize("stream", [False, True])
def test_the_openai_sdk_on_the_responses_api_does_not_retry_either(
    all_gated: tuple[RunningGateway, list[RunningUpstream]], stream: bool
) -> None:
    """The wire OpenCode and Codex speak, from the plain SDK with its default retries."""
    gw, _ = all_gated
    client = openai.OpenAI(base_url=gw.openai_base, api_key="anything", timeout=10)
    with client, pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model="claude-sonnet-4-6", input="hi", stream=stream)
    assert requests_counted(gw) == 1
    assert caught.value.response.headers["x-should-retry"] == "false"
    printed = str(caught.value)
    assert "Subscription extra usage used up for this client" in printed
    assert "Will not help: Restarting the agent; Logging in again" in printed


def test_the_anthropic_sdk_gets_anthropics_own_answer_for_it(
    all_gated: tuple[RunningGateway, list[RunningUpstream]],
) -> None:
    gw, _ = all_gated
    client = anthropic.Anthropic(base_url=gw.url, api_key="anything", timeout=10)
    with client, pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.create(model="claude-sonnet-4-6", max_tokens=5, messages=PROMPT)  # type: ignore[arg-type]
    assert requests_counted(gw) == 1
    body = caught.value.response.json()
    assert body["type"] == "error"
    assert body["error"]["type"] == "invalid_request_error"  # what Anthropic itself sends
    assert "Will not help:" in body["error"]["message"]
    assert "the official app may still work" in caught.value.message


def test_a_second_request_names_the_gated_paths_without_calling_them(
    all_gated: tuple[RunningGateway, list[RunningUpstream]],
) -> None:
    gw, ups = all_gated
    for _ in range(2):
        reply = request(
            gw.url, "POST", "/v1/messages", {"model": "m", "max_tokens": 5, "messages": PROMPT}
        )
        assert reply.status == 400
    assert [len(u.requests) for u in ups] == [1, 1]  # the second time, both were remembered
    message = reply.json()["error"]["message"]  # type: ignore[index]
    assert "p0/claude-sonnet-4-6: skipped, remembered as quota (subscription_usage_gate)" in message
    assert "turnout tries it again in" in message  # no reset was stated: the gateway's timer


def test_the_message_is_in_chinese_when_the_client_asks_for_it(
    all_gated: tuple[RunningGateway, list[RunningUpstream]],
) -> None:
    gw, _ = all_gated
    reply = request(
        gw.url,
        "POST",
        "/v1/chat/completions",
        {"model": "claude-sonnet-4-6", "messages": PROMPT},
        headers={"accept-language": "zh-CN,zh;q=0.9,en;q=0.5"},
    )
    message = reply.json()["error"]["message"]  # type: ignore[index]
    assert "订阅的额外用量(extra usage)已用完" in message
    assert "没有用的做法:重启 agent" in message
    assert "官方客户端可能仍然能用" in message


def test_a_transient_failure_still_invites_a_retry_after_its_wait() -> None:
    with gateway_over("openai", defaults={"retries": 0}) as (gw, [up]):
        up.script(Fail(429, '{"error":{"message":"Rate limit reached"}}', {"retry-after": "7"}))
        reply = request(gw.url, "POST", "/v1/chat/completions", {"model": "m", "messages": PROMPT})
    assert reply.status == 429
    assert reply.headers["retry-after"] == "7"
    assert "x-should-retry" not in reply.headers
