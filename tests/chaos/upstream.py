"""A fault-injecting model provider: real HTTP on 127.0.0.1, a seeded dice roll per request.

    with ChaosFarm({"chaos1": Mix.hostile(), "healthy": Mix.none()}, seed=7) as farm:
        farm.url("chaos1")  # an origin speaking OpenAI /v1/chat/completions and /v1/messages

Each request to an answer route rolls one fault from its upstream's `Mix` (rates per fault,
the rest answered correctly). A correct answer is `answer_text(nonce)`, where the nonce is
the `nonce=<16 hex>` the client put in its user message, so a client can check that it got
*its* answer and all of it (the text ends with `end_marker(nonce)`). A request whose last
message is an assistant prefill (how turnout continues a cut stream) gets the remainder of
that answer after the prefill, so the text a client assembles is right across a continuation.

Every request is recorded as an `Arrival` (upstream, nonce, time, fault, Retry-After sent,
client port) so a test can check retry spacing and retry budgets from the upstream's side.
All upstreams of a farm share one event loop on one daemon thread; stalls are bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import gzip
import hashlib
import random
import re
import time
import zlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from tests.fakes.delivery import ANTHROPIC, OPENAI, SSE_HEADERS, Dialect, Exchange, answer
from tests.fakes.serving_thread import ServingThread
from tests.fakes.sse import truncated
from tests.fakes.steps import Cut, Fail, Malformed, Reply, Reset

NONCE = re.compile(rb"nonce=([0-9a-f]{16})")
ROUTES: dict[str, Dialect] = {
    "/v1/chat/completions": OPENAI,
    "/chat/completions": OPENAI,
    "/v1/messages": ANTHROPIC,
}
_VOCABULARY = [
    "amber",
    "basalt",
    "cobalt",
    "dune",
    "ember",
    "fjord",
    "granite",
    "harbor",
    "indigo",
    "juniper",
    "kelp",
    "lagoon",
    "meadow",
    "nectar",
    "onyx",
    "prairie",
    "quartz",
    "river",
    "sierra",
    "tundra",
    "umber",
    "valley",
    "willow",
    "xenon",
    "yarrow",
    "zephyr",
]
STOP_GRACE_S = 1.0

USAGE_GATE_BODY = (
    '{"type":"error","error":{"type":"invalid_request_error","message":"You\'re out of extra '
    'usage. Add more at claude.ai/settings/usage and keep going."}}'
)
CLOUDFLARE_502 = """<!DOCTYPE html>
<html lang="en-US"><head><title>example.com | 502: Bad gateway</title></head>
<body><div id="cf-error-details"><h1><span class="inline-block">Bad gateway</span>
<span class="code-label">Error code 502</span></h1>
<p>The web server reported a bad gateway error.</p>
<span>Cloudflare Ray ID: <strong>8c1d2e3f4a5b6c7d</strong></span>
<span>Performance &amp; security by Cloudflare</span></div></body></html>"""
CLOUDFLARE_524 = """<!DOCTYPE html>
<html lang="en-US"><head><title>example.com | 524: A timeout occurred</title></head>
<body><div id="cf-error-details"><h1><span class="inline-block">A timeout occurred</span>
<span class="code-label">Error code 524</span></h1>
<p>The origin web server timed out responding to this request.</p>
<span>Cloudflare Ray ID: <strong>8c1d2e3f4a5b6c7e</strong></span>
<span>Performance &amp; security by Cloudflare</span></div></body></html>"""


def end_marker(nonce: str) -> str:
    """The last token of every complete answer."""
    return f"END-{nonce}"


def answer_text(nonce: str) -> str:
    """The one correct answer to the request carrying `nonce`: 6 to 17 words, then the marker."""
    digest = hashlib.sha256(nonce.encode()).digest()
    words = [_VOCABULARY[b % len(_VOCABULARY)] for b in digest[: 6 + digest[-1] % 12]]
    return f"For {nonce}: {' '.join(words)} {end_marker(nonce)}"


def _error(dialect: Dialect, kind: str, message: str) -> str:
    if dialect is ANTHROPIC:
        return orjson.dumps({"type": "error", "error": {"type": kind, "message": message}}).decode()
    return orjson.dumps({"error": {"message": message, "type": kind, "code": None}}).decode()


#: A model whose name holds this is one the provider does not have (a client's typo or
#: invention): a 404 as the provider words it, before any fault is rolled.
UNKNOWN_MODEL = "no-such-"


def _no_such_model(dialect: Dialect, data: Mapping[str, Any]) -> str:
    model = str(data.get("model", ""))
    if dialect is ANTHROPIC:
        return _error(dialect, "not_found_error", f"model: {model}")
    body = {
        "error": {
            "message": f"The model `{model}` does not exist or you do not have access to it.",
            "type": "invalid_request_error",
            "param": None,
            "code": "model_not_found",
        }
    }
    return orjson.dumps(body).decode()


def _rate_limited(dialect: Dialect) -> str:
    if dialect is ANTHROPIC:
        return _error(
            dialect, "rate_limit_error", "Number of requests has exceeded your rate limit."
        )
    return _error(dialect, "requests", "Rate limit reached for requests per min (RPM).")


@dataclass(frozen=True)
class Mix:
    """How often each fault is rolled, per request (the rest is answered correctly).

    Timings: `slow_s` delays the headers of a correct answer (within the gateway's deadline),
    `silent_s` holds them past it, `stall_s` pauses a body mid-way past the read deadline,
    `retry_after_s` is the Retry-After of the fault `429_retry_after`. `huge_bytes` is what an
    oversized body or stream sends at most (and, decompressed, what a bomb expands to): more
    than the gateway's caps, so it must refuse them part-way.
    """

    rates: Mapping[str, float] = field(default_factory=dict)
    slow_s: float = 0.2
    silent_s: float = 2.0
    stall_s: float = 2.0
    retry_after_s: tuple[int, ...] = (1,)
    huge_bytes: int = 1 << 20

    def scaled(self, factor: float) -> Mix:
        """The same faults with every timing stretched by `factor` (a slower machine)."""
        return dataclasses.replace(
            self,
            slow_s=self.slow_s * factor,
            silent_s=self.silent_s * factor,
            stall_s=self.stall_s * factor,
        )

    @staticmethod
    def none() -> Mix:
        return Mix()

    @staticmethod
    def hostile(scale: float = 1.0) -> Mix:
        """Every fault turnout must survive; about 40% of requests fail at scale 1."""
        base = {
            "429": 0.03,
            "429_retry_after": 0.02,
            "500": 0.03,
            "502": 0.03,
            "503": 0.03,
            "529": 0.03,
            "usage_gate": 0.01,
            "html_502": 0.02,
            "html_524": 0.02,
            "slow": 0.03,
            "silent": 0.01,
            "stall": 0.02,
            "cut": 0.06,
            "malformed_json": 0.02,
            "malformed_sse": 0.02,
            "reset": 0.03,
            "huge": 0.01,
            "bomb": 0.01,
            "gzip": 0.02,
        }
        return Mix({name: rate * scale for name, rate in base.items()})

    def roll(self, rng: random.Random) -> str:
        point = rng.random()
        for name, rate in self.rates.items():
            if point < rate:
                return name
            point -= rate
        return "ok"


@dataclass(frozen=True)
class Arrival:
    """One request as the upstream saw it. `at` is `time.monotonic()` on arrival."""

    upstream: str
    nonce: str | None
    at: float
    fault: str
    stream: bool
    continuation: bool
    retry_after_s: int | None
    peer_port: int | None
    prefill: str | None = None
    seq: int = 0  # its place among the upstream's arrivals, to match `ChaosUpstream.whole`


@dataclass(frozen=True)
class Turn:
    """What one request asks for: whose answer, and from where on (after a prefill)."""

    nonce: str | None
    prefill: str | None

    @property
    def text(self) -> str:
        if self.nonce is None:
            return "no nonce in the request"
        full = answer_text(self.nonce)
        if self.prefill is None:
            return full
        # A prefill that is not a prefix of the answer is a gateway fault: say so in the text.
        return full[len(self.prefill) :] if full.startswith(self.prefill) else " PREFILL-MISMATCH"


def read_turn(body: bytes, data: Mapping[str, Any]) -> Turn:
    found = NONCE.search(body)
    nonce = found.group(1).decode() if found else None
    messages = data.get("messages")
    last = messages[-1] if isinstance(messages, list) and messages else None
    if not isinstance(last, dict) or last.get("role") != "assistant":
        return Turn(nonce, None)
    content = last.get("content")
    if isinstance(content, list):
        content = "".join(b.get("text", "") for b in content if isinstance(b, dict))
    return Turn(nonce, str(content or ""))


@dataclass(frozen=True)
class Roll:
    """What a fault needs to play: the right text, the timings, the seeded dice."""

    text: str
    mix: Mix
    rng: random.Random
    retry_after_s: int
    spaced: bool = False  # the client asked for `SPACED`: a sound stream takes its time


#: A client that means to hang up mid-answer puts this in its message, so that a sound stream
#: is still being written when it goes (a model writes token by token): its events come
#: `SPACED_S` apart, well inside any read deadline.
SPACED = b"spaced=yes"
SPACED_S = 0.05

Fault = Callable[[Exchange, Roll], Awaitable[web.StreamResponse]]


async def _ok(exchange: Exchange, roll: Roll) -> web.StreamResponse:
    if roll.spaced and exchange.streaming:
        frames = exchange.dialect.events(Reply(text=roll.text), exchange.json)
        return await _stream(exchange, frames, None, 0.0, every_s=SPACED_S)
    return await answer(Reply(text=roll.text), exchange)


async def _slow(exchange: Exchange, roll: Roll) -> web.StreamResponse:
    return await answer(Reply(text=roll.text, first_byte_delay_s=roll.mix.slow_s), exchange)


async def _silent(exchange: Exchange, roll: Roll) -> web.StreamResponse:
    return await answer(Reply(text=roll.text, first_byte_delay_s=roll.mix.silent_s), exchange)


async def _cut(exchange: Exchange, roll: Roll) -> web.StreamResponse:
    """Closed after a random number of events (a non-streamed body: half of it)."""
    total = len(exchange.dialect.events(Reply(text=roll.text), exchange.json))
    return await answer(Cut(after_events=roll.rng.randrange(total), text=roll.text), exchange)


async def _stall(exchange: Exchange, roll: Roll) -> web.StreamResponse:
    """A correct answer that goes silent for `stall_s` part-way (then completes, if heard)."""
    if not exchange.streaming:
        body = orjson.dumps(exchange.dialect.body(Reply(text=roll.text), exchange.json))
        headers = exchange.headers({"Content-Type": "application/json"})
        response = web.StreamResponse(headers=headers)
        response.content_length = len(body)
        await response.prepare(exchange.request)
        await response.write(body[: len(body) // 2])
        await asyncio.sleep(roll.mix.stall_s)
        await response.write(body[len(body) // 2 :])
        await response.write_eof()
        return response
    frames = exchange.dialect.events(Reply(text=roll.text), exchange.json)
    return await _stream(exchange, frames, roll.rng.randrange(1, len(frames)), roll.mix.stall_s)


async def _stream(
    exchange: Exchange,
    frames: list[bytes],
    pause_at: int | None,
    pause_s: float,
    every_s: float = 0.0,
) -> web.StreamResponse:
    response = web.StreamResponse(headers=exchange.headers(SSE_HEADERS))
    await response.prepare(exchange.request)
    for index, frame in enumerate(frames):
        if index == pause_at:
            await asyncio.sleep(pause_s)
        elif every_s and index:
            await asyncio.sleep(every_s)
        await response.write(frame)
    await response.write_eof()
    return response


async def _malformed_sse(exchange: Exchange, roll: Roll) -> web.StreamResponse:
    """A correct stream with a half event inserted before a random event; a non-streaming
    request gets a 200 whose body is not JSON."""
    if not exchange.streaming:
        return await answer(Malformed("json"), exchange)
    frames = exchange.dialect.events(Reply(text=roll.text), exchange.json)
    at = roll.rng.randrange(1, len(frames))
    frames.insert(at, truncated(frames[at]))
    return await _stream(exchange, frames, None, 0.0)


def _fail(status: int, body: Callable[[Dialect], str]) -> Fault:
    async def fault(exchange: Exchange, roll: Roll) -> web.StreamResponse:
        return await answer(Fail(status, body(exchange.dialect)), exchange)

    return fault


def _html(status: int, page: str) -> Fault:
    async def fault(exchange: Exchange, roll: Roll) -> web.StreamResponse:
        headers = {"Content-Type": "text/html; charset=UTF-8", "Server": "cloudflare"}
        return await answer(Fail(status, page, headers), exchange)

    return fault


async def _retry_after(exchange: Exchange, roll: Roll) -> web.StreamResponse:
    headers = {"retry-after": str(roll.retry_after_s)}
    return await answer(Fail(429, _rate_limited(exchange.dialect), headers), exchange)


async def _reset(exchange: Exchange, roll: Roll) -> web.StreamResponse:
    return await answer(Reset(), exchange)


async def _malformed_json(exchange: Exchange, roll: Roll) -> web.StreamResponse:
    return await answer(Malformed("json"), exchange)


#: The padding of oversized and compressed-bomb streams: SSE comment lines, which every SSE
#: parser skips (the spec's keep-alive), so only their size matters.
PAD_FRAME = b": " + b"pad " * 4096 + b"\n\n"
PIECE_BYTES = 64 * 1024


def _accepts_gzip(exchange: Exchange) -> bool:
    return "gzip" in exchange.request.headers.get("Accept-Encoding", "")


@functools.cache
def _padding_gzip(total: int) -> bytes:
    """`total` bytes of padding frames as one gzip member (a few KB on the wire)."""
    return gzip.compress(PAD_FRAME * (total // len(PAD_FRAME) + 1), compresslevel=9)


async def _send(response: web.StreamResponse, data: bytes) -> bool:
    """Write `data`; False once the gateway has hung up (it refused the rest)."""
    try:
        await response.write(data)
    except (ConnectionError, RuntimeError):
        return False
    return True


#: What a frame that closes an answer holds: its finish reason (Chat), its stop (Messages).
_CLOSING = (b'"finish_reason":"', b'"type":"message_delta"')


def _opening(frames: list[bytes], rng: random.Random) -> list[bytes]:
    """A random number of an answer's first events, never up to the one that closes it: the
    part of a hostile body that looks like an answer is never a whole one, so whatever the
    client gets whole came from a later call."""
    end = next((i for i, f in enumerate(frames) if any(c in f for c in _CLOSING)), len(frames))
    return frames[: rng.randrange(max(1, end))]


async def _huge(exchange: Exchange, roll: Roll) -> web.StreamResponse:
    """More than the gateway's caps: a 200 whose JSON body never closes, or a stream that,
    after a random number of the answer's events, sends only padding. Bounded by `huge_bytes`."""
    if exchange.streaming:
        frames = exchange.dialect.events(Reply(text=roll.text), exchange.json)
        response = web.StreamResponse(headers=exchange.headers(SSE_HEADERS))
        await response.prepare(exchange.request)
        head = _opening(frames, roll.rng)
        chunks = [*head, *[PAD_FRAME] * (roll.mix.huge_bytes // len(PAD_FRAME))]
    else:
        response = web.StreamResponse(
            headers=exchange.headers({"Content-Type": "application/json"})
        )
        await response.prepare(exchange.request)
        opening = b'{"id": "huge", "choices": [{"index": 0, "message": {"content": "'
        chunks = [opening, *[b" " * PIECE_BYTES] * (roll.mix.huge_bytes // PIECE_BYTES)]
    for chunk in chunks:
        if not await _send(response, chunk):
            return response
    await _send_eof(response)
    return response


async def _bomb(exchange: Exchange, roll: Roll) -> web.StreamResponse:
    """A gzip body of a few KB that expands past the caps: for a stream, a random number of the
    answer's events, then a second gzip member of padding; whole, a body of padding. Sent
    compressed whether asked for or not (a hostile upstream does)."""
    headers = {"Content-Encoding": "gzip"}
    padding = _padding_gzip(roll.mix.huge_bytes * 8)
    if exchange.streaming:
        frames = exchange.dialect.events(Reply(text=roll.text), exchange.json)
        head = b"".join(_opening(frames, roll.rng))
        body = (gzip.compress(head) if head else b"") + padding
        response = web.StreamResponse(headers=exchange.headers({**SSE_HEADERS, **headers}))
    else:
        body = padding
        response = web.StreamResponse(
            headers=exchange.headers({"Content-Type": "application/json", **headers})
        )
    response.content_length = len(body)
    await response.prepare(exchange.request)
    if await _send(response, body):
        await _send_eof(response)
    return response


async def _send_eof(response: web.StreamResponse) -> None:
    with contextlib.suppress(ConnectionError, RuntimeError):
        await response.write_eof()


async def _gzip(exchange: Exchange, roll: Roll) -> web.StreamResponse:
    """A correct answer, gzip-compressed when the gateway asks for it (a stream flushed event
    by event, so each arrives when sent)."""
    if not _accepts_gzip(exchange):
        return await _ok(exchange, roll)
    if not exchange.streaming:
        body = gzip.compress(
            orjson.dumps(exchange.dialect.body(Reply(text=roll.text), exchange.json))
        )
        headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
        return web.Response(body=body, headers=exchange.headers(headers))
    headers = {**SSE_HEADERS, "Content-Encoding": "gzip"}
    response = web.StreamResponse(headers=exchange.headers(headers))
    await response.prepare(exchange.request)
    packer = zlib.compressobj(wbits=16 + zlib.MAX_WBITS)
    for frame in exchange.dialect.events(Reply(text=roll.text), exchange.json):
        await response.write(packer.compress(frame) + packer.flush(zlib.Z_SYNC_FLUSH))
    await response.write(packer.flush())
    await response.write_eof()
    return response


#: Faults whose answer is correct and complete when it is written to its end.
WHOLE = frozenset({"ok", "slow", "gzip"})

#: Fault name -> how it is answered. `Mix.rates` keys must come from here.
FAULTS: dict[str, Fault] = {
    "ok": _ok,
    "429": _fail(429, _rate_limited),
    "429_retry_after": _retry_after,
    "500": _fail(500, lambda d: _error(d, "api_error", "Internal server error")),
    "502": _fail(502, lambda d: _error(d, "api_error", "Bad gateway")),
    "503": _fail(503, lambda d: _error(d, "api_error", "Service Unavailable")),
    "529": _fail(529, lambda d: _error(d, "overloaded_error", "Overloaded")),
    "usage_gate": _fail(400, lambda d: USAGE_GATE_BODY),
    "html_502": _html(502, CLOUDFLARE_502),
    "html_524": _html(524, CLOUDFLARE_524),
    "slow": _slow,
    "silent": _silent,
    "stall": _stall,
    "cut": _cut,
    "malformed_json": _malformed_json,
    "malformed_sse": _malformed_sse,
    "reset": _reset,
    "huge": _huge,
    "bomb": _bomb,
    "gzip": _gzip,
}


class ChaosUpstream:
    """One fault-injecting provider on a free port of 127.0.0.1 (start it on a running loop)."""

    def __init__(self, name: str, mix: Mix, seed: int) -> None:
        unknown = set(mix.rates) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown faults: {sorted(unknown)}")
        self.name = name
        self.mix = mix
        self.arrivals: list[Arrival] = []
        self.whole: set[int] = set()  # arrivals (by seq) whose answer was written to its end
        self._rng = random.Random(f"{seed}:{name}")
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        for path in ROUTES:
            app.router.add_post(path, self._answer)
        app.router.add_post("/v1/messages/count_tokens", _count_tokens)
        app.router.add_get("/v1/models", _models)
        runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=STOP_GRACE_S
        )
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        self._runner = runner
        self.port = runner.addresses[0][1]

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            parsed = None
        data: dict[str, Any] = parsed if isinstance(parsed, dict) else {}
        turn = read_turn(body, data)
        # A continuation is rolled too: turnout must cope with a continuation that fails.
        fault = self.mix.roll(self._rng)
        retry_after = self._rng.choice(self.mix.retry_after_s)
        peer = request.transport.get_extra_info("peername") if request.transport else None
        self.arrivals.append(
            Arrival(
                upstream=self.name,
                nonce=turn.nonce,
                at=time.monotonic(),
                fault=fault,
                stream=data.get("stream") is True,
                continuation=turn.prefill is not None,
                retry_after_s=retry_after if fault == "429_retry_after" else None,
                peer_port=peer[1] if isinstance(peer, tuple) else None,
                prefill=turn.prefill,
                seq=len(self.arrivals),
            )
        )
        seq = self.arrivals[-1].seq
        exchange = Exchange(request, ROUTES[request.path], data)
        if UNKNOWN_MODEL in str(data.get("model", "")):
            return await answer(Fail(404, _no_such_model(exchange.dialect, data)), exchange)
        try:
            roll = Roll(turn.text, self.mix, self._rng, retry_after, SPACED in body)
            response = await FAULTS[fault](exchange, roll)
        except ConnectionError:  # the gateway gave up on a stall: nothing more to say
            return web.Response()
        if fault in WHOLE:
            self.whole.add(seq)
        return response


async def _count_tokens(request: web.Request) -> web.Response:
    return web.json_response({"input_tokens": max(1, len(await request.read()) // 4)})


async def _models(request: web.Request) -> web.Response:
    return web.json_response({"object": "list", "data": [{"id": "m", "object": "model"}]})


class LagMeter:
    """How late the farm's event loop wakes up: a tick every `TICK_S`, and the worst delay.

    An upstream whose loop wakes late answers late, whatever its fault: on a busy machine that
    is the machine's doing, and the run's figures say how much of it there was."""

    TICK_S = 0.05

    def __init__(self) -> None:
        self.worst_s = 0.0
        self.over: dict[float, int] = {0.1: 0, 0.25: 0, 0.5: 0}  # ticks later than each

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            planned = loop.time() + self.TICK_S
            await asyncio.sleep(self.TICK_S)
            late = loop.time() - planned
            self.worst_s = max(self.worst_s, late)
            for bound in self.over:
                if late > bound:
                    self.over[bound] += 1


class ChaosFarm(ServingThread):
    """Several chaos upstreams on one event loop in a daemon thread; `close()` stops them."""

    thread_name = "chaos upstreams"

    def __init__(self, mixes: Mapping[str, Mix], seed: int = 0) -> None:
        self.upstreams = {name: ChaosUpstream(name, mix, seed) for name, mix in mixes.items()}
        self.lag = LagMeter()
        self._lag_task: asyncio.Task[None] | None = None
        super().__init__()

    async def start_servers(self) -> None:
        for upstream in self.upstreams.values():
            await upstream.start()
        self._lag_task = asyncio.create_task(self.lag.run())

    async def stop_servers(self) -> None:
        if self._lag_task is not None:
            self._lag_task.cancel()
        for upstream in self.upstreams.values():
            await upstream.stop()

    def whole(self) -> set[tuple[str, int]]:
        """(upstream, seq) of every arrival whose answer was written whole."""
        return {(name, seq) for name, up in self.upstreams.items() for seq in list(up.whole)}

    def url(self, name: str) -> str:
        return self.upstreams[name].url

    def arrivals(self) -> list[Arrival]:
        """Every upstream's arrivals, in arrival order."""
        found = [a for up in self.upstreams.values() for a in list(up.arrivals)]
        return sorted(found, key=lambda a: a.at)
