"""AWS Bedrock: Claude through InvokeModel and InvokeModelWithResponseStream, every other
model through Converse and ConverseStream.

The body is Anthropic's Messages body without `model` and `stream` (the model id is in the
path, streaming is the endpoint) and with `anthropic_version: bedrock-2023-05-31`; betas go
in the body as `anthropic_beta`. The model id may be a foundation model, a cross-region
inference profile (`us.anthropic...`, `eu.`, `apac.`, `global.`) or an ARN; it is escaped
into one path segment. A stream comes as event-stream frames, each chunk carrying one
Anthropic event (base64), and an exception frame for a failure: both become the Anthropic SSE
events the relay reads, the exception as an `error` event of the matching type.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import os
import re
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import quote

import orjson

from turnout.config.load import At, ConfigError, expand_env, label
from turnout.config.model import ProviderConfig
from turnout.providers.aws import SigV4, profile_region
from turnout.providers.base import UpstreamCall, UpstreamResponse
from turnout.providers.eventstream import EventStreamDecoder, Frame
from turnout.providers.kind import Kind, require_extra
from turnout.providers.openai import not_offered
from turnout.providers.seam import Auth, HttpProvider, StaticHeaders
from turnout.providers.transport import HttpTransport
from turnout.wire import converse

ANTHROPIC_VERSION = "bedrock-2023-05-31"
_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d+$")
#: Bedrock's stream exceptions as the Anthropic error types the diagnosis and clients know.
EXCEPTION_TYPES = {
    "throttlingException": "rate_limit_error",
    "serviceUnavailableException": "overloaded_error",
    "validationException": "invalid_request_error",
    "modelTimeoutException": "api_error",
    "modelStreamErrorException": "api_error",
    "internalServerException": "api_error",
}


def bedrock_options(table: Mapping[str, Any], env: Mapping[str, str], at: At) -> dict[str, Any]:
    profile = table.get("profile")
    profile = expand_env(str(profile), env, (*at, "profile")) if profile else None
    if table.get("api_key") is None:  # a Bedrock API key needs no signing
        require_extra("botocore", "aws", "bedrock", at)
    region = table.get("region")
    region = expand_env(str(region), env, (*at, "region")) if region else None
    region = (
        region
        or env.get("AWS_REGION")
        or env.get("AWS_DEFAULT_REGION")
        or profile_region(profile or env.get("AWS_PROFILE"))
    )
    if not region:
        raise ConfigError(
            f"{label(at)} has no AWS region",
            "write region: us-east-1 (or set AWS_REGION, or give the profile a region)",
            at=(*at, "region"),
        )
    if not _REGION.match(region):
        raise ConfigError(
            f"{label((*at, 'region'))} {region!r} is not an AWS region",
            "for example us-east-1, eu-central-1, ap-northeast-1",
            at=(*at, "region"),
        )
    return {"region": region, "profile": profile}


def _endpoint(options: Mapping[str, Any]) -> str:
    return f"https://bedrock-runtime.{options['region']}.amazonaws.com"


def sse_event(frame: Frame) -> bytes:
    """One frame as the Anthropic SSE event it carries (or an `error` event)."""
    kind = frame.header(":message-type")
    if kind == "event" and frame.header(":event-type") == "chunk":
        try:
            event = base64.b64decode(orjson.loads(frame.payload)["bytes"], validate=True)
            name = orjson.loads(event)["type"]
        except (orjson.JSONDecodeError, KeyError, TypeError, binascii.Error) as exc:
            event = orjson.dumps(
                {"type": "error", "error": {"type": "api_error", "message": f"bad chunk: {exc}"}}
            )
            name = "error"
        return b"event: " + str(name).encode() + b"\ndata: " + event + b"\n\n"
    if kind == "event":
        return b""  # an event type this wire does not use: nothing to relay
    if kind == "exception":
        exception = frame.header(":exception-type")
        try:
            message = str(orjson.loads(frame.payload).get("message", ""))
        except (orjson.JSONDecodeError, AttributeError):
            message = frame.payload[:2000].decode(errors="replace")
    else:
        exception = frame.header(":error-code") or "internalServerException"
        message = frame.header(":error-message")
    error_type = EXCEPTION_TYPES.get(exception[:1].lower() + exception[1:], "api_error")
    payload = {"type": "error", "error": {"type": error_type, "message": f"{exception}: {message}"}}
    return b"event: error\ndata: " + orjson.dumps(payload) + b"\n\n"


def is_converse_model(model: str) -> bool:
    """Whether a model id is served through Converse (any vendor's but Anthropic's)."""
    return not model.startswith("arn:") and "anthropic." not in model


def converse_event(frame: Frame) -> bytes:
    """One ConverseStream frame as the SSE event the converse codec reads."""
    kind = frame.header(":message-type")
    if kind == "event":
        name = frame.header(":event-type").encode()
        return b"event: " + name + b"\ndata: " + frame.payload + b"\n\n"
    if kind == "exception":
        exception = frame.header(":exception-type")
        try:
            message = str(orjson.loads(frame.payload).get("message", ""))
        except (orjson.JSONDecodeError, AttributeError):
            message = frame.payload[:2000].decode(errors="replace")
    else:
        exception = frame.header(":error-code") or "internalServerException"
        message = frame.header(":error-message")
    return b"event: exception\ndata: " + converse.error_data(exception, message) + b"\n\n"


class BedrockProvider(HttpProvider):
    dialect = "anthropic"  # for a model of another vendor, "converse" (see `dialect_for`)
    encoded_url = True

    def __init__(self, config: ProviderConfig, transport: HttpTransport) -> None:
        auth: Auth
        if config.api_key:
            auth = StaticHeaders({"authorization": f"Bearer {config.api_key.value}"})
        else:
            profile = config.options.get("profile") or os.environ.get("AWS_PROFILE")
            auth = SigV4(config.options["region"], "bedrock", profile, transport.mask)
        super().__init__(config, transport, auth)

    def dialect_for(self, model: str) -> str:
        return converse.NAME if is_converse_model(model) else "anthropic"

    def url_for(self, call: UpstreamCall) -> str:
        if is_converse_model(call.model):
            action = "converse-stream" if call.stream else "converse"
        else:
            action = "invoke-with-response-stream" if call.stream else "invoke"
        return f"{self.config.base_url}/model/{quote(call.model, safe='')}/{action}"

    def body_for(self, call: UpstreamCall) -> bytes:
        if is_converse_model(call.model):
            return call.body  # Converse's body names no model: it is in the URL
        data = orjson.loads(call.body)
        data.pop("model", None)
        data.pop("stream", None)
        data["anthropic_version"] = ANTHROPIC_VERSION
        betas = [b.strip() for b in call.client_headers.get("anthropic-beta", "").split(",")]
        if any(betas):
            data["anthropic_beta"] = [b for b in betas if b]
        return orjson.dumps(data)

    def headers_for(self, call: UpstreamCall) -> dict[str, str]:
        headers = {"content-type": "application/json", **self.config.headers}
        if call.stream:
            headers["accept"] = "application/vnd.amazon.eventstream"
            if not is_converse_model(call.model):
                headers["x-amzn-bedrock-accept"] = "application/json"
        else:
            headers["accept"] = "application/json"
        return headers

    async def open(self, call: UpstreamCall) -> UpstreamResponse:
        if call.operation != "chat":
            raise not_offered(call, "Bedrock's InvokeModel and Converse")
        return await super().open(call)

    def frame(self, response: UpstreamResponse, call: UpstreamCall) -> UpstreamResponse:
        # A chunk's base64 is a third larger than the event it carries.
        decoder = EventStreamDecoder(call.settings.max_event_bytes * 4 // 3 + 64 * 1024)
        to_sse = converse_event if is_converse_model(call.model) else sse_event

        async def events() -> AsyncIterator[bytes]:
            async for raw in response.chunks:
                for frame in decoder.feed(raw):
                    event = to_sse(frame)
                    if event:
                        yield event
            decoder.finish()

        headers = {**response.headers, "content-type": "text/event-stream"}
        return dataclasses.replace(response, chunks=events(), headers=headers)


BEDROCK = Kind(
    BedrockProvider,
    keys=frozenset({"region", "profile"}),
    options=bedrock_options,
    default_base_url=_endpoint,
    family="bedrock",
    prefill="anthropic",
    auth_name=lambda config: None if config.api_key else "aws sigv4",
)
