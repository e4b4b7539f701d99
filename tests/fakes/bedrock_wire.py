"""Bedrock Runtime as documented: InvokeModel and InvokeModelWithResponseStream for Claude,
Converse and ConverseStream for the other vendors' models, each request's SigV4 signature
verified by recomputing it (from the published algorithm, not from botocore), answers streamed
as event-stream frames with their CRCs. Converse bodies are checked as Bedrock checks them: no
unknown key, turns alternating from a user's, content blocks of the known kinds, a tool result
only for a call the turn before answered."""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import struct
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote

import orjson
from aiohttp import web

from tests.fakes.app_server import AppServer

MODELS = frozenset(
    {
        "anthropic.claude-sonnet-4-5-20250929-v1:0",
        "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "anthropic.claude-haiku-4-5-20251001-v1:0",
    }
)
CONVERSE_MODELS = frozenset({"us.meta.llama3-3-70b-instruct-v1:0", "amazon.nova-pro-v1:0"})
CONVERSE_KEYS = frozenset(
    {
        "messages", "system", "inferenceConfig", "toolConfig", "guardrailConfig",
        "additionalModelRequestFields", "additionalModelResponseFieldPaths",
        "promptVariables", "requestMetadata", "performanceConfig",
    }
)  # fmt: skip
CONVERSE_BLOCKS = frozenset(
    {"text", "image", "document", "video", "toolUse", "toolResult", "reasoningContent",
     "guardContent", "cachePoint"}
)  # fmt: skip


def frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One event-stream frame with string headers and both CRCs."""
    encoded = b""
    for name, value in headers.items():
        raw = value.encode()
        encoded += bytes([len(name)]) + name.encode() + b"\x07" + struct.pack(">H", len(raw)) + raw
    total = 16 + len(encoded) + len(payload)
    prelude = struct.pack(">II", total, len(encoded))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    body = prelude + encoded + payload
    return body + struct.pack(">I", zlib.crc32(body))


def chunk_frame(event: dict[str, Any]) -> bytes:
    payload = {"bytes": base64.b64encode(orjson.dumps(event)).decode(), "p": "abcdefgh"}
    headers = {
        ":event-type": "chunk",
        ":content-type": "application/json",
        ":message-type": "event",
    }
    return frame(headers, orjson.dumps(payload))


def exception_frame(exception: str, message: str) -> bytes:
    headers = {
        ":exception-type": exception,
        ":content-type": "application/json",
        ":message-type": "exception",
    }
    return frame(headers, orjson.dumps({"message": message}))


def event_frame(event_type: str, payload: dict[str, Any]) -> bytes:
    headers = {
        ":event-type": event_type,
        ":content-type": "application/json",
        ":message-type": "event",
    }
    return frame(headers, orjson.dumps(payload))


def converse_events(
    text: str, tool: dict[str, Any] | None = None
) -> list[tuple[str, dict[str, Any]]]:
    """What ConverseStream sends for a text answer (and a tool call): `(event type, payload)`."""
    events: list[tuple[str, dict[str, Any]]] = [("messageStart", {"role": "assistant"})]
    for i, word in enumerate(text.split(" ")):
        piece = word if i == 0 else " " + word
        events.append(("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": piece}}))
    events.append(("contentBlockStop", {"contentBlockIndex": 0}))
    stop = "end_turn"
    if tool is not None:
        stop = "tool_use"
        start = {"toolUse": {"toolUseId": "tooluse_bdrk_1", "name": tool["name"]}}
        events.append(("contentBlockStart", {"contentBlockIndex": 1, "start": start}))
        args = orjson.dumps(tool["input"]).decode()
        for part in (args[: len(args) // 2], args[len(args) // 2 :]):
            delta = {"toolUse": {"input": part}}
            events.append(("contentBlockDelta", {"contentBlockIndex": 1, "delta": delta}))
        events.append(("contentBlockStop", {"contentBlockIndex": 1}))
    events.append(("messageStop", {"stopReason": stop}))
    usage = {"inputTokens": 14, "outputTokens": 9, "totalTokens": 23}
    events.append(("metadata", {"usage": usage, "metrics": {"latencyMs": 210}}))
    return events


def converse_refusal(data: Any) -> str | None:
    """What Bedrock's validation says of a Converse body, or None when it takes it."""
    if not isinstance(data, dict):
        return "Malformed input request, please reformat your input and try again."
    for key in data:
        if key not in CONVERSE_KEYS:
            return f"Malformed input request: #: extraneous key [{key}] is not permitted"
    messages = data.get("messages")
    if not isinstance(messages, list) or not messages:
        return "A conversation must start with a user message. Try again with a conversation that starts with a user message."
    asked: set[str] = set()
    for index, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role != ("user" if index % 2 == 0 else "assistant"):
            return "A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again."
        blocks = message.get("content")
        if not isinstance(blocks, list) or not blocks:
            return f"The content field in the Message object at messages.{index} is empty. Add a ContentBlock object to the content field and try again."
        answered = {b["toolResult"]["toolUseId"] for b in blocks if "toolResult" in b}
        if answered - asked:
            return f"The toolResult blocks at messages.{index}.content do not match the toolUse blocks of the previous turn."
        asked = {b["toolUse"]["toolUseId"] for b in blocks if "toolUse" in b}
        for block in blocks:
            if not isinstance(block, dict) or len(block) != 1 or not set(block) <= CONVERSE_BLOCKS:
                return f"Malformed input request: messages.{index}.content: unknown block {block}"
    for spec in (data.get("toolConfig") or {}).get("tools", []):
        schema = spec.get("toolSpec", {}).get("inputSchema", {})
        if not isinstance(schema.get("json"), dict):
            return "The value at toolConfig.tools.0.toolSpec.inputSchema.json is not a JSON object."
    return None


def claude_events(text: str, tool: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """What Claude streams for a text answer (and a tool call), as Bedrock wraps them."""
    message: dict[str, Any] = {
        "id": "msg_bdrk_01",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 12, "output_tokens": 1},
    }
    events: list[dict[str, Any]] = [{"type": "message_start", "message": message}]
    events.append(
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
    )
    for i, word in enumerate(text.split(" ")):
        piece = word if i == 0 else " " + word
        events.append(
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": piece},
            }
        )
    events.append({"type": "content_block_stop", "index": 0})
    stop = "end_turn"
    if tool is not None:
        stop = "tool_use"
        block = {"type": "tool_use", "id": "toolu_bdrk_1", "name": tool["name"], "input": {}}
        events.append({"type": "content_block_start", "index": 1, "content_block": block})
        args = orjson.dumps(tool["input"]).decode()
        for part in (args[: len(args) // 2], args[len(args) // 2 :]):
            events.append(
                {
                    "type": "content_block_delta",
                    "index": 1,
                    "delta": {"type": "input_json_delta", "partial_json": part},
                }
            )
        events.append({"type": "content_block_stop", "index": 1})
    events.append(
        {
            "type": "message_delta",
            "delta": {"stop_reason": stop, "stop_sequence": None},
            "usage": {"output_tokens": 7},
        }
    )
    events.append(
        {
            "type": "message_stop",
            "amazon-bedrock-invocationMetrics": {
                "inputTokenCount": 12,
                "outputTokenCount": 7,
                "invocationLatency": 321,
                "firstByteLatency": 120,
            },
        }
    )
    return events


@dataclass
class BedrockStep:
    """One answer: text (and a tool call); `throttle`: an HTTP 429; `exception_after`: an
    exception frame after that many chunk frames; `corrupt_after`: a frame with a bad CRC."""

    text: str = "hello from bedrock"
    tool: dict[str, Any] | None = None
    throttle: bool = False
    exception_after: int | None = None
    exception: str = "throttlingException"
    corrupt_after: int | None = None


@dataclass
class Keys:
    access_key: str
    secret_key: str
    session_token: str | None = None
    seen_tokens: list[str | None] = field(default_factory=list)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def expected_signature(request: web.Request, body: bytes, secret: str) -> tuple[str, str]:
    """(the signature SigV4 gives this request, the one it carries), from the raw request."""
    authorization = request.headers.get("authorization", "")
    fields = dict(
        part.strip().split("=", 1)
        for part in authorization.removeprefix("AWS4-HMAC-SHA256 ").split(",")
    )
    _key_id, date, region, service, _terminator = fields["Credential"].split("/")
    signed = fields["SignedHeaders"].split(";")
    path = request.raw_path.split("?", 1)[0]
    # Non-S3 services: each segment of the path as sent is encoded once more.
    canonical_uri = "/".join(quote(segment, safe="-_.~") for segment in path.split("/"))
    query = sorted(
        (quote(unquote(k), safe="-_.~"), quote(unquote(v), safe="-_.~"))
        for k, _, v in (p.partition("=") for p in request.query_string.split("&") if p)
    )
    canonical_query = "&".join(f"{k}={v}" for k, v in query)
    canonical_headers = "".join(
        f"{name}:{' '.join(request.headers.get(name, '').split())}\n" for name in signed
    )
    canonical = "\n".join(
        [
            request.method,
            canonical_uri,
            canonical_query,
            canonical_headers,
            ";".join(signed),
            _sha256(body),
        ]
    )
    scope = f"{date}/{region}/{service}/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", request.headers["x-amz-date"], scope, _sha256(canonical.encode())]
    )
    key = _hmac(("AWS4" + secret).encode(), date)
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest(), fields["Signature"]


def _error(status: int, kind: str, message: str) -> web.Response:
    return web.json_response(
        {"message": message},
        status=status,
        headers={
            "x-amzn-errortype": f"{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/"
        },
    )


#: How far a signature's X-Amz-Date may be from AWS's clock, either way.
SIGNATURE_SKEW_S = 300


def _clock_refusal(signed_at: str, now_s: float) -> web.Response | None:
    """AWS's answer to a signing time out of the allowed skew, in its words, or None."""
    signed = datetime.datetime.strptime(signed_at, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.UTC)
    now = datetime.datetime.fromtimestamp(int(now_s), datetime.UTC)
    skew = datetime.timedelta(seconds=SIGNATURE_SKEW_S)
    stamp = "%Y%m%dT%H%M%SZ"
    minutes = SIGNATURE_SKEW_S // 60
    if signed < now - skew:
        message = (
            f"Signature expired: {signed_at} is now earlier than "
            f"{(now - skew).strftime(stamp)} ({now.strftime(stamp)} - {minutes} min.)"
        )
    elif signed > now + skew:
        message = (
            f"Signature not yet current: {signed_at} is still later than "
            f"{(now + skew).strftime(stamp)} ({now.strftime(stamp)} + {minutes} min.)"
        )
    else:
        return None
    return _error(403, "InvalidSignatureException", message)


class FakeBedrock(AppServer):
    def __init__(
        self, keys: Keys, region: str = "us-east-1", clock: Callable[[], float] = time.time
    ) -> None:
        """`clock` is AWS's clock (epoch seconds): a signing time too far from it is refused."""
        self.keys = keys
        self.region = region
        self.clock = clock
        self.steps: list[BedrockStep] = [BedrockStep()]
        self.signature_checks = 0
        super().__init__()

    def script(self, *steps: BedrockStep) -> None:
        self.steps = list(steps)

    def _next(self) -> BedrockStep:
        return self.steps.pop(0) if len(self.steps) > 1 else self.steps[0]

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/model/{model}/invoke", self._invoke)
        app.router.add_post("/model/{model}/invoke-with-response-stream", self._stream)
        app.router.add_post("/model/{model}/converse", self._converse)
        app.router.add_post("/model/{model}/converse-stream", self._converse_stream)

    async def _check(self, request: web.Request) -> tuple[web.Response | None, dict[str, Any]]:
        body = await request.read()
        credential = request.headers.get("authorization", "")
        if f"Credential={self.keys.access_key}/" not in credential:
            return _error(
                403,
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
            ), {}
        if f"/{self.region}/bedrock/aws4_request" not in credential:
            return _error(
                403, "InvalidSignatureException", "Credential should be scoped to a valid region."
            ), {}
        refused = _clock_refusal(request.headers.get("x-amz-date", ""), self.clock())
        if refused is not None:
            return refused, {}
        expected, carried = expected_signature(request, body, self.keys.secret_key)
        self.signature_checks += 1
        if not hmac.compare_digest(expected, carried):
            return _error(
                403,
                "InvalidSignatureException",
                "The request signature we calculated does not match the signature you provided. "
                "Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
            ), {}
        token = request.headers.get("x-amz-security-token")
        self.keys.seen_tokens.append(token)
        if self.keys.session_token is not None and (
            token != self.keys.session_token or "x-amz-security-token" not in credential
        ):
            return _error(
                403,
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
            ), {}
        data = orjson.loads(body)
        if request.path.endswith(("/converse", "/converse-stream")):
            if request.match_info["model"] not in CONVERSE_MODELS:
                return _error(
                    400, "ValidationException", "The provided model identifier is invalid."
                ), {}
            problem = converse_refusal(data)
            if problem is not None:
                return _error(400, "ValidationException", problem), {}
            return None, data
        if request.match_info["model"] not in MODELS:
            return _error(
                400, "ValidationException", "The provided model identifier is invalid."
            ), {}
        for extraneous in ("model", "stream"):
            if extraneous in data:
                return _error(
                    400,
                    "ValidationException",
                    f"Malformed input request: #: extraneous key [{extraneous}] is not permitted, please reformat your input and try again.",
                ), {}
        if data.get("anthropic_version") != "bedrock-2023-05-31":
            return _error(
                400,
                "ValidationException",
                "Malformed input request: #: required key [anthropic_version] not found, please reformat your input and try again.",
            ), {}
        return None, data

    async def _invoke(self, request: web.Request) -> web.StreamResponse:
        refused, _data = await self._check(request)
        if refused is not None:
            return refused
        step = self._next()
        if step.throttle:
            return _error(
                429, "ThrottlingException", "Too many requests, please wait before trying again."
            )
        content: list[dict[str, Any]] = [{"type": "text", "text": step.text}]
        return web.json_response(
            {
                "id": "msg_bdrk_02",
                "type": "message",
                "role": "assistant",
                "model": "claude-sonnet-4-5-20250929",
                "content": content,
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": 12, "output_tokens": 4},
            }
        )

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        refused, _data = await self._check(request)
        if refused is not None:
            return refused
        step = self._next()
        if step.throttle:
            return _error(
                429, "ThrottlingException", "Too many requests, please wait before trying again."
            )
        response = web.StreamResponse(
            headers={"content-type": "application/vnd.amazon.eventstream"}
        )
        await response.prepare(request)
        for index, event in enumerate(claude_events(step.text, step.tool)):
            if index == step.exception_after:
                await response.write(
                    exception_frame(
                        step.exception, "Too many tokens, please wait before trying again."
                    )
                )
                break
            data = chunk_frame(event)
            if index == step.corrupt_after:
                data = data[:-1] + bytes([data[-1] ^ 0xFF])
            # Frames arrive split at odd places, as TCP may cut them.
            for at in range(0, len(data), 37):
                await response.write(data[at : at + 37])
        await response.write_eof()
        return response

    async def _converse(self, request: web.Request) -> web.StreamResponse:
        refused, _data = await self._check(request)
        if refused is not None:
            return refused
        step = self._next()
        if step.throttle:
            return _error(
                429, "ThrottlingException", "Too many requests, please wait before trying again."
            )
        content: list[dict[str, Any]] = [{"text": step.text}]
        if step.tool is not None:
            use = {"toolUseId": "tooluse_bdrk_1", "name": step.tool["name"]}
            content.append({"toolUse": {**use, "input": step.tool["input"]}})
        return web.json_response(
            {
                "output": {"message": {"role": "assistant", "content": content}},
                "stopReason": "tool_use" if step.tool else "end_turn",
                "usage": {"inputTokens": 14, "outputTokens": 9, "totalTokens": 23},
                "metrics": {"latencyMs": 210},
            }
        )

    async def _converse_stream(self, request: web.Request) -> web.StreamResponse:
        refused, _data = await self._check(request)
        if refused is not None:
            return refused
        step = self._next()
        if step.throttle:
            return _error(
                429, "ThrottlingException", "Too many requests, please wait before trying again."
            )
        response = web.StreamResponse(
            headers={"content-type": "application/vnd.amazon.eventstream"}
        )
        await response.prepare(request)
        for index, (event_type, payload) in enumerate(converse_events(step.text, step.tool)):
            if index == step.exception_after:
                message = "Too many tokens, please wait before trying again."
                await response.write(exception_frame(step.exception, message))
                break
            data = event_frame(event_type, payload)
            for at in range(0, len(data), 37):  # split at odd places, as TCP may cut them
                await response.write(data[at : at + 37])
        await response.write_eof()
        return response
