"""Continue a broken stream on a path that accepts a prefill (see continuation.py)."""

from __future__ import annotations

import logging

from turnout.config.model import ProviderConfig, RouteConfig, Target
from turnout.dialects.sse import EventSplitter
from turnout.edge.asgi import Send, send_chunk
from turnout.errors import UpstreamError
from turnout.providers.base import Provider, UpstreamCall
from turnout.routing.continuation import (
    ClientStream,
    ContinuationWriter,
    RemainderReader,
    prefill_request,
)
from turnout.routing.resolve import target_model
from turnout.runtime.gateway import Gateway

log = logging.getLogger("turnout.relay")

#: Prefill styles by provider kind, when the config does not say (a mock does not continue).
DEFAULT_PREFILL = {"anthropic": "anthropic", "mock": "none", "openai": "none"}


def prefill_style(provider: ProviderConfig) -> str:
    return provider.prefill or DEFAULT_PREFILL.get(provider.kind, "none")


def _can_continue(style: str, data: dict[str, object]) -> bool:
    # Anthropic refuses a prefill when extended thinking is on.
    thinking = "thinking" in data or "reasoning_effort" in data
    return style != "none" and not (style == "anthropic" and thinking)


async def continue_stream(
    gateway: Gateway,
    route: RouteConfig,
    request_model: str,
    request_data: dict[str, object],
    client: ClientStream,
    send: Send,
    client_headers: dict[str, str],
    broken: str,
) -> str | None:
    """Stream the rest of the answer from the first path that can continue it (not the one
    that just broke); the path that did, or None (the caller then ends with an error event)."""
    for pattern in route.targets:
        target = Target(pattern.provider, target_model(pattern, request_model))
        if target.path == broken:
            continue
        provider = gateway.providers[target.provider]
        style = prefill_style(provider.config)
        health = gateway.health
        if not _can_continue(style, request_data) or await health.is_out(target.provider):
            continue
        if await health.is_out(target.path):
            continue
        settings = gateway.config.settings_for(route, provider.config)
        body = prefill_request(
            client.dialect, dict(request_data), target.model, style, client.so_far
        )
        dialect = "anthropic" if style == "anthropic" else "openai"
        call = UpstreamCall("chat", dialect, body, target.model, True, settings, client_headers)
        if await _stream_remainder(provider, call, target, client, send):
            return target.path
    return None


async def _stream_remainder(
    provider: Provider, call: UpstreamCall, target: Target, client: ClientStream, send: Send
) -> bool:
    """True when the remainder arrived whole and the answer was closed."""
    stripped = len(client.so_far) - len(client.so_far.rstrip())  # whitespace the prefill lost
    reader, writer = RemainderReader(call.dialect), ContinuationWriter(client, target.model)
    try:
        response = await provider.open(call)
    except UpstreamError as exc:
        log.info("continuation on %s refused: %s", target.path, exc)
        return False
    splitter = EventSplitter(call.settings.max_event_bytes, response.redact)
    try:
        async for chunk in response.chunks:
            for event in splitter.feed(chunk):
                text = reader.read(event)
                if reader.strayed:
                    return False
                if stripped and text:
                    text, stripped = text[min(stripped, len(text) - len(text.lstrip())) :], 0
                if text:
                    out = writer.text(text)
                    client.sent(out)
                    await send_chunk(send, out)
            if reader.finished:
                break
    except (UpstreamError, ValueError) as exc:
        log.info("continuation on %s broke too: %s", target.path, exc)
        return False
    finally:
        await response.close()
    if not (reader.finished or reader.stop_reason):
        return False
    for out in writer.finish(reader.stop_reason, reader.output_tokens):
        await send_chunk(send, out)
    return True
