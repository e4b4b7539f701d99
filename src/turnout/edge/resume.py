"""Continue a broken stream (see continuation.py) through the route chain, under its rules.

The continuation is one more walk of the route: admission, probe leases, path budgets,
retries and cooldowns apply as to any request, and every path is a candidate, the one that
broke last (its retries count the broken stream as its first try). A path that declines
the prefill is skipped and, when it said so in words, remembered (routing/prefill.py). Each
continuation's tokens are kept as a `Leg` for the ledger, estimated where the upstream never
said.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from turnout.config.model import RouteConfig, Target
from turnout.diagnosis import Diagnosis
from turnout.edge.asgi import Send, send_chunk
from turnout.errors import UpstreamError
from turnout.ledger.usage import Usage, UsageMeter
from turnout.providers.base import Provider, UpstreamCall
from turnout.routing.chain import Attempt, Failed, Resumption, Served
from turnout.routing.continuation import (
    ClientStream,
    ContinuationWriter,
    Leg,
    RemainderReader,
    prefill_request,
    prefill_wire,
)
from turnout.routing.deadlines import Ask
from turnout.routing.echo import ClientEcho
from turnout.routing.prefill import auto_style
from turnout.runtime.gateway import Gateway
from turnout.wire import CODECS, UpstreamStreamError
from turnout.wire.sse import Event

log = logging.getLogger("turnout.relay")

#: Continuations one answer may take (a remainder that breaks again is continued again).
MAX_CONTINUATIONS = 3
#: A remainder that starts by writing the answer's first characters again restarted it:
#: the path ignored the prefill. Checked on this many characters (when the text has them),
#: on paths whose support is only guessed (`auto` on an OpenAI-compatible server).
RESTART_PROBE = 24
_MIN_PROBE = RESTART_PROBE


@dataclass(slots=True)
class Continued:
    """How continuing went: the path that finished the answer (None: nobody did)."""

    path: str | None = None
    attempts: list[Attempt] = field(default_factory=list)
    legs: list[Leg] = field(default_factory=list)
    cooled: bool = False  # the path that broke was cooled down


@dataclass(frozen=True, slots=True)
class Broken:
    """The request being continued and the stream that broke."""

    route: RouteConfig
    model: str  # the name the client asked for
    data: dict[str, object]
    body_bytes: int
    headers: dict[str, str]
    target: Target


async def recover(
    gateway: Gateway,
    broken: Broken,
    failure: Diagnosis,
    client: ClientStream,
    metered: Usage,
    send: Send,
) -> Continued:
    """After a stream broke mid-answer: continue it if the client's answer allows, and count
    what the broken stream used. The path that broke is cooled down unless it finishes the
    answer itself, and before the client can have the end of it: a client that sends its next
    request as soon as it has read an answer must find that path cooling already."""
    written = client.so_far
    first = Leg(broken.target, metered)
    estimate(first, broken.body_bytes // 4, written, final=False)
    done = Continued()
    if client.continuable:
        done = await continue_stream(gateway, broken, failure, client, send)
    if done.path is None:  # nobody continued: cooled before the client is told so
        await _cool(gateway, broken, failure, done)
    done.legs.insert(0, first)
    return done


async def _cool(gateway: Gateway, broken: Broken, failure: Diagnosis, done: Continued) -> None:
    if done.cooled:
        return
    done.cooled = True
    provider = gateway.providers[broken.target.provider].config
    settings = gateway.config.settings_for(broken.route, provider)
    await gateway.health.failed(broken.target.path, failure, settings.cooldown_s, gated=False)


async def continue_stream(
    gateway: Gateway, broken: Broken, failure: Diagnosis, client: ClientStream, send: Send
) -> Continued:
    """Stream the rest of the answer from the first path that continues it."""
    done = Continued()
    target = broken.target
    for _ in range(MAX_CONTINUATIONS):
        if not client.continuable:
            break
        served = await _walk(gateway, broken, target, client, done)
        if served is None:
            break
        if served.target.path != broken.target.path:
            await _cool(gateway, broken, failure, done)  # another path writes the rest
        prompt_tokens = (broken.body_bytes + len(client.so_far)) // 4
        finished = await _stream_remainder(gateway, served, client, send, done, prompt_tokens)
        if finished:
            gateway.prefill.accepted(served.provider.config, served.target.path)
            done.path = served.target.path
            break
        target = served.target  # it broke too: the next walk counts this try as its first
    return done


async def _walk(
    gateway: Gateway, broken: Broken, target: Target, client: ClientStream, done: Continued
) -> Served | None:
    so_far = client.so_far

    def style_of(candidate: Target) -> str:
        provider = gateway.providers[candidate.provider].config
        return gateway.prefill.style(provider, candidate.path, broken.data)

    def body_for(candidate: Target, provider: Provider) -> bytes | None:
        style = style_of(candidate)
        speaks = provider.dialect_for(candidate.model)
        if style == "none" or speaks not in (prefill_wire(style).name, "any"):
            return None  # it does not continue, or not in the wire it speaks
        return prefill_request(client.dialect, dict(broken.data), candidate.model, style, so_far)

    def declines(candidate: Target, exc: UpstreamError) -> bool:
        provider = gateway.providers[candidate.provider].config
        declined = gateway.prefill.declines(provider, candidate.path, exc)
        if declined:
            log.info("%s declined to continue: %s", candidate.path, exc)
        return declined

    call = UpstreamCall(
        "chat", client.dialect, b"", broken.model, True, gateway.config.defaults, broken.headers
    )
    ask = Ask((broken.body_bytes + len(so_far)) // 4)
    await gateway.prefill.refresh(
        t.path for t in gateway.chain.targets(broken.route, call, broken.model)
    )
    # The client's words, and the answer so far (which a prompt can steer), are not the
    # provider's: a continuation's failure quoting them gates nothing either.
    echo = ClientEcho(broken.data, so_far)
    outcome = await gateway.chain.run(
        broken.route, call, body_for, broken.model, echo, ask=ask,
        resumption=Resumption(target, declines, style_of),
    )  # fmt: skip
    done.attempts.extend(outcome.attempts)
    if isinstance(outcome, Failed):
        return None
    return outcome


async def _stream_remainder(
    gateway: Gateway,
    served: Served,
    client: ClientStream,
    send: Send,
    done: Continued,
    prompt_tokens: int,
) -> bool:
    """True when the remainder arrived whole and the answer was closed."""
    speaks = served.provider.dialect_for(served.target.model)
    dialect = speaks if speaks != "any" else client.dialect
    so_far = client.so_far
    stripped = len(so_far) - len(so_far.rstrip())  # whitespace the prefill left out
    probe = so_far.lstrip()[:RESTART_PROBE]
    provider = gateway.providers[served.target.provider].config
    guessed = provider.prefill in (None, "auto") and auto_style(provider) == "vllm"
    pending = "" if guessed and len(probe) >= _MIN_PROBE else None  # held back until checked
    reader, writer = RemainderReader(dialect), ContinuationWriter(client, served.target.model)
    meter = UsageMeter(CODECS[dialect])
    leg = Leg(served.target, meter.usage)
    done.legs.append(leg)
    written = ""
    try:
        async for event in _events(served):
            meter.observe(event)
            text = reader.read(event)
            if reader.strayed:
                return False
            if stripped and text:
                text, stripped = text[min(stripped, len(text) - len(text.lstrip())) :], 0
            if pending is not None:
                pending += text
                if len(pending.lstrip()) < len(probe) and not reader.finished:
                    continue
                if pending.lstrip().startswith(probe):
                    gateway.prefill.refuse(provider, served.target.path)
                    log.info("%s restarted the answer: it does not continue", served.target.path)
                    return False
                text, pending = pending, None
            if text:
                written += text
                out = writer.text(text)
                client.sent(out)
                await send_chunk(send, out)
            if reader.finished:
                break
    except (UpstreamError, UpstreamStreamError, ValueError) as exc:
        log.info("continuation on %s broke too: %s", served.target.path, exc)
        return False
    finally:
        await served.response.close()
        estimate(leg, prompt_tokens, written, reader.finished)
    if not (reader.finished or reader.stop_reason):
        return False
    for out in writer.finish(reader.stop_reason, reader.output_tokens):
        await send_chunk(send, out)
    return True


async def _events(served: Served) -> AsyncIterator[Event]:
    for event in served.head:
        yield event
    assert served.splitter is not None
    async for chunk in served.response.chunks:
        for event in served.splitter.feed(chunk):
            yield event


def estimate(leg: Leg, prompt_tokens: int, written: str, final: bool) -> None:
    """Fill in the counts the upstream never said (a resent prompt's input; the output of a
    stream that broke, which only ever reported a placeholder), at about 4 characters a
    token, and say which are estimates. `final`: the stream ended with its own counts."""
    if leg.usage.tokens_in == 0 and leg.usage.tokens_cached == 0:
        leg.usage.tokens_in = max(1, prompt_tokens)
        leg.estimated.append("input")
    if not final or leg.usage.tokens_out == 0:
        leg.usage.tokens_out = max(leg.usage.tokens_out, -(-len(written) // 4))
        leg.estimated.append("output")
