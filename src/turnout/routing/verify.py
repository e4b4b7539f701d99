"""Answers whose words can mean two things, checked at once with a one-token probe.

Anthropic answers "You're out of extra usage" on a subscription login (an OAuth token) both
when its extra usage is spent and when its filter refuses part of one request's content.
Gating the path on the second would take a healthy path out of service, so before gating on
such an answer the same path (same credential, same model) is sent the smallest request there
is. Served: the path is fine and the
refusal was about this request's content, which then fails over alone. Refused too: the gate
is real. The probe is the gateway's own request, sent as itself, and costs one output token.
"""

from __future__ import annotations

import orjson

from turnout.diagnosis import Diagnosis, explain_code
from turnout.errors import UpstreamError
from turnout.providers.anthropic import is_oauth_token
from turnout.providers.base import Provider, UpstreamCall

#: The rules whose match is ambiguous in this way.
AMBIGUOUS_RULES = frozenset({"anthropic.extra_usage"})
PROBE_TEXT = "hi"


def is_ambiguous(diagnosis: Diagnosis, provider: Provider, call: UpstreamCall) -> bool:
    """Whether these words, on this path, may be about the request rather than the path:
    an ambiguous rule, on an Anthropic path that signs in with a subscription login."""
    if diagnosis.rule not in AMBIGUOUS_RULES or provider.config.kind != "anthropic":
        return False
    if call.credential is not None:
        return is_oauth_token(call.credential.value.removeprefix("Bearer ").strip())
    key = provider.config.api_key
    return key is not None and is_oauth_token(key.value)


def probe_call(call: UpstreamCall) -> UpstreamCall:
    """`call` reduced to one short user turn and one output token, not streamed."""
    body = orjson.dumps(
        {
            "model": call.model,
            "max_tokens": 1,
            "messages": [{"role": "user", "content": PROBE_TEXT}],
        }
    )
    return UpstreamCall(
        "chat", call.dialect, body, call.model, False, call.settings, call.client_headers,
        call.credential,
    )  # fmt: skip


async def probe_serves(provider: Provider, call: UpstreamCall) -> bool:
    """Whether the path serves a one-token request now (any failure counts as no)."""
    try:
        response = await provider.open(probe_call(call))
        await response.read()
    except UpstreamError:
        return False
    return True


def content_refused(diagnosis: Diagnosis) -> Diagnosis:
    """What the client is told when the probe was served: its content was refused."""
    said = f' The provider said: "{diagnosis.message}".' if diagnosis.message else ""
    return explain_code(
        "content_filtered",
        lang=diagnosis.lang,
        provider=diagnosis.provider,
        model=diagnosis.model,
        message=(
            "the provider answered with its usage-gate words, but a one-token probe on the same "
            f"path was served: the refusal was about this request's content.{said}"
        ),
    )
