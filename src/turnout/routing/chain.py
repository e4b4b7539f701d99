"""Walk a route's chain of paths: retry what is transient, fail over on the rest, skip gated paths.

Nothing here touches the client: the chain returns either a response ready to relay (for a
stream, with its first events already read, so a failure before any content can still fail
over) or a failure with every attempt's diagnosis.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from turnout.catalog import context_window
from turnout.config.model import GatewayConfig, ProviderConfig, RouteConfig, Settings, Target
from turnout.diagnosis import Category, Diagnosis, diagnose
from turnout.diagnosis.origin import provider_from_url
from turnout.diagnosis.taxonomy import RETRYABLE
from turnout.errors import (
    DeadlineMissed,
    ResponseRefused,
    StreamBroken,
    UpstreamError,
    UpstreamHTTPError,
)
from turnout.providers.base import Provider, UpstreamCall, UpstreamResponse
from turnout.providers.registry import KINDS
from turnout.redaction import mask_shapes
from turnout.routing.deadlines import Ask, Pace
from turnout.routing.echo import ClientEcho
from turnout.routing.headroom import HeadroomBoard
from turnout.routing.health import Admission, PathHealth, PathMark, retold
from turnout.routing.resets import MAX_GATE_S, MODEL_FAMILY_WINDOWS, provider_reset
from turnout.routing.resolve import target_model
from turnout.routing.verify import content_refused, is_ambiguous, probe_serves
from turnout.wire import CODECS, Codec
from turnout.wire.sse import Event, EventSplitter, refuse_unreadable, unreadable

#: Categories that take a path out of service until its reset (or `gate_s`).
GATING = frozenset(
    {
        Category.QUOTA,
        Category.AUTH,
        Category.PERMISSION,
        Category.MODEL_NOT_FOUND,
        Category.ENDPOINT_NOT_FOUND,
    }
)
#: How much more headroom a task route (titles, compression, background work) keeps back.
TASK_RESERVE_FACTOR = 2.0
#: Why a path that takes the client's own credential was not tried.
NO_CLIENT_CREDENTIAL = (
    "this path uses the client's own credential and the request brought none of its own "
    "(send the gateway key in x-turnout-key, and the provider credential as usual)"
)
#: The note on an attempt whose usage-gate words a served probe showed to be about content.
PROBE_SERVED = "a one-token probe on the same path was served: the path is not gated"
#: Categories where the request is at fault: answer the client unless the route opts in.
REQUEST_FAULTS = frozenset(
    {Category.INVALID_REQUEST, Category.CONTENT_POLICY, Category.PAYLOAD_TOO_LARGE}
)


@dataclass(frozen=True, slots=True)
class Attempt:
    target: Target
    outcome: str  # "ok", a category, or "skipped"
    diagnosis: Diagnosis | None = None
    note: str = ""
    resets_at: float | None = None  # when the provider said the path serves again (epoch s)
    probe_in_s: float | None = None  # else, when the gateway will try it again

    def label(self) -> str:
        if self.outcome == "skipped" and self.diagnosis is not None:
            return f"{self.target.provider}:skipped({self.diagnosis.category.value})"
        if self.outcome == "skipped":
            return f"{self.target.provider}:skipped"
        return f"{self.target.provider}:{self.outcome}"


@dataclass(slots=True)
class Served:
    """A path answered. A stream's `head` holds the events read before committing to it (up
    to its first content event); `splitter` reads the rest of `response.chunks`."""

    target: Target
    provider: Provider
    response: UpstreamResponse
    attempts: list[Attempt]
    head: list[Event] = field(default_factory=list)
    splitter: EventSplitter | None = None
    body: bytes = b""  # a non-streamed response, read whole
    data: dict[str, Any] = field(default_factory=dict)  # that body, parsed once
    upstream_s: float = 0.0


@dataclass(slots=True)
class Failed:
    """Every path failed (or the request itself was refused by one)."""

    attempts: list[Attempt]
    decisive: Diagnosis
    passthrough: UpstreamError | None = None  # a request fault to hand back as the provider said
    upstream_s: float = 0.0


@dataclass(frozen=True, slots=True)
class Resumption:
    """A walk that continues a broken stream: `broken` already had its first try (the stream
    that broke), so it gets only its remaining retries; `declines` tells a path refusing the
    continuation itself (skipped quietly, never the client's error) from a failure;
    `style` is how a path is asked to continue (its provider may serve that elsewhere)."""

    broken: Target
    declines: Callable[[Target, UpstreamError], bool]
    style: Callable[[Target], str] | None = None


#: Builds the body for a target: the caller's body with the target's model, or a translation.
BodyFor = Callable[[Target, Provider], bytes | None]


class RouteChain:
    """Tries the targets of one route in order for one call."""

    def __init__(
        self,
        config: GatewayConfig,
        providers: dict[str, Provider],
        health: PathHealth,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        closed: Callable[[Target], Diagnosis | None] = lambda target: None,
        pace: Pace | None = None,
        clock: Callable[[], float] = time.perf_counter,
        wall: Callable[[], float] = time.time,
        headroom: HeadroomBoard | None = None,
    ) -> None:
        self._config = config
        self._providers = providers
        self._health = health
        self._sleep = sleep
        self._wall = wall  # epoch seconds, for the reset times providers state
        self.headroom = headroom if headroom is not None else HeadroomBoard()
        self._closed = closed  # why a path takes no traffic now (its budget is spent)
        self.pace = pace or Pace()  # what each path has shown of its speed
        self._clock = clock

    async def run(
        self,
        route: RouteConfig,
        call: UpstreamCall,
        body_for: BodyFor,
        requested_model: str,
        echo: ClientEcho | None = None,
        attempts: list[Attempt] | None = None,
        ask: Ask | None = None,
        resumption: Resumption | None = None,
    ) -> Served | Failed:
        """Serve `call` on the first path that can. `echo` is what the client wrote: a failure
        quoting it is read without it. `attempts`, when given, is filled as the walk goes, so
        a caller whose request is cancelled midway still knows its trail. `ask` is what the
        request asks of a model (prompt size, reasoning), which sets a stream's first-event
        deadline; by default it is read off the body's size. `resumption` makes this walk a
        continuation (admission, budgets and retries as for any request)."""
        attempts = [] if attempts is None else attempts
        ask = ask or Ask(len(call.body) // 4)
        elapsed = 0.0
        cooling: list[tuple[Target, PathMark]] = []
        targets = self._reserve_last(
            route, [self._target(t, call, requested_model) for t in route.targets], attempts
        )
        if resumption is not None:
            # The path that just broke is the likeliest to break again: every other path
            # that can continue is asked first, in the route's order (a stable sort).
            targets.sort(key=lambda target: target == resumption.broken)
        too_long_for: int | None = None  # a window the prompt did not fit in
        for target in targets:
            provider = self._providers[target.provider]
            if provider.config.client_credential and not target.account:
                attempts.append(Attempt(target, "skipped", note=NO_CLIENT_CREDENTIAL))
                continue
            window = context_window(target.model, provider.config.context_windows)
            if too_long_for is not None and window is not None and window <= too_long_for:
                attempts.append(Attempt(target, "skipped", note="context window not larger"))
                continue
            closed = self._closed(target)
            if closed is not None:
                attempts.append(Attempt(target, "skipped", closed))
                continue
            admission, mark = await self._admit(target)
            if admission is Admission.SKIP:
                attempts.append(self._skipped(target, mark))
                if mark is not None and not mark.gated:
                    cooling.append((target, mark))
                continue
            outcome = await self._try_target(
                route, target, provider, call, body_for, attempts, echo, ask, resumption
            )
            elapsed += outcome[1]
            if isinstance(outcome[0], Served | Failed):
                outcome[0].upstream_s = elapsed
                return outcome[0]
            if isinstance(outcome[0], Diagnosis) and outcome[0].category is Category.CONTEXT_LENGTH:
                too_long_for = window
        if cooling and all(a.outcome in ("skipped", "deferred") for a in attempts):
            return Failed(list(attempts), self._from_cooldown(cooling), upstream_s=elapsed)
        return Failed(list(attempts), self._decisive(attempts, requested_model), upstream_s=elapsed)

    def _from_cooldown(self, cooling: list[tuple[Target, PathMark]]) -> Diagnosis:
        """The answer when every path was skipped and some only cool down: what cooled the
        first of them, with the wait until its cooldown ends as the Retry-After. Calling it
        anyway would only spend the provider's patience (a 429 answered with more calls) and
        the client's time; when the cooldown ends, one request probes the path."""
        target, mark = cooling[0]
        wait = max(1.0, math.ceil(self._health.seconds_left(mark)))
        return dataclasses.replace(retold(mark.diagnosis, target.model), retry_after_s=wait)

    def targets(self, route: RouteConfig, call: UpstreamCall, requested_model: str) -> list[Target]:
        """The paths `call` may be served on, in the route's order."""
        return [self._target(t, call, requested_model) for t in route.targets]

    def _target(self, configured: Target, call: UpstreamCall, requested_model: str) -> Target:
        """The path for this call; on a provider that takes the client's credential, the
        client's own use of it (named by the credential's digest)."""
        own = self._providers[configured.provider].config.client_credential
        account = call.credential.digest if own and call.credential is not None else ""
        return Target(configured.provider, target_model(configured, requested_model), account)

    def _reserve_last(
        self, route: RouteConfig, targets: list[Target], attempts: list[Attempt]
    ) -> list[Target]:
        """The targets with those below their `reserve` of headroom moved behind the others
        (in order): they serve only when no other path can. Each move is noted. Task routes
        (titles, compression, background work: `tasks:`) keep twice the reserve, so they move
        first and leave what is left to the work a person waits on."""
        now = self._wall()
        kept: list[Target] = []
        low: list[Target] = []
        factor = TASK_RESERVE_FACTOR if route.name in self._config.tasks.values() else 1.0
        for target in targets:
            provider = self._config.providers[target.provider]
            reserve = min(0.99, self._config.settings_for(route, provider).reserve * factor)
            left = self.headroom.least_left(target.path, now) if reserve > 0 else None
            if left is not None and left < reserve:
                note = f"{left:.0%} of a usage window left, below its reserve of {reserve:.0%}"
                attempts.append(Attempt(target, "deferred", note=note))
                low.append(target)
            else:
                kept.append(target)
        return kept + low if kept else targets

    def _skipped(self, target: Target, mark: PathMark | None) -> Attempt:
        if mark is None:
            return Attempt(target, "skipped")
        return Attempt(
            target,
            "skipped",
            retold(mark.diagnosis, target.model),
            resets_at=mark.reset.at if mark.reset else None,
            probe_in_s=self._health.seconds_left(mark),
        )

    async def _try_target(
        self,
        route: RouteConfig,
        target: Target,
        provider: Provider,
        call: UpstreamCall,
        body_for: BodyFor,
        attempts: list[Attempt],
        echo: ClientEcho | None = None,
        ask: Ask | None = None,
        resumption: Resumption | None = None,
    ) -> tuple[Served | Failed | Diagnosis | None, float]:
        """Try one target with its retries. Returns what happened and the seconds spent.

        A probe lease the admission took is given back on every way out that reaches no
        verdict on the path: a request it cannot honour, a cancelled request (the client
        hung up), an error of the gateway's own. Otherwise it would hold the path shut for
        the lease's whole term."""
        try:
            return await self._try_admitted(
                route, target, provider, call, body_for, attempts, echo, ask or Ask(), resumption
            )
        except BaseException:
            await asyncio.shield(self._release(target))
            raise

    async def _try_admitted(
        self,
        route: RouteConfig,
        target: Target,
        provider: Provider,
        call: UpstreamCall,
        body_for: BodyFor,
        attempts: list[Attempt],
        echo: ClientEcho | None,
        ask: Ask,
        resumption: Resumption | None,
    ) -> tuple[Served | Failed | Diagnosis | None, float]:
        settings = self._config.settings_for(route, self._config.providers[target.provider])
        body = body_for(target, provider)
        if body is None:
            attempts.append(Attempt(target, "skipped", note="cannot honour this request"))
            await self._release(target)
            return None, 0.0
        first = 1 if resumption is not None and resumption.broken == target else 0
        if first > settings.retries:
            attempts.append(Attempt(target, "skipped", note="its retries are spent"))
            return None, 0.0
        speaks = provider.dialect_for(target.model)
        target_call = UpstreamCall(
            operation=call.operation,
            dialect=call.dialect if speaks == "any" else speaks,
            body=body,
            model=target.model,
            stream=call.stream,
            settings=settings,
            client_headers=call.client_headers,
            credential=call.credential if provider.config.client_credential else None,
            prefill=resumption.style(target) if resumption and resumption.style else None,
        )
        spent = 0.0
        diagnosis: Diagnosis | None = None
        trusted = True
        failure: UpstreamError | None = None
        # A continuation's walk counts the broken stream as the broken path's first try.
        for attempt_no in range(first, settings.retries + 1):
            started = time.perf_counter()
            try:
                served = await self._open(target, provider, target_call, ask)
            except UpstreamError as exc:
                # Kept past this block without its traceback: that holds this frame, which
                # holds `failure`, a cycle per failed attempt left to the garbage collector.
                failure = exc.with_traceback(None)
                spent += time.perf_counter() - started
                self.headroom.observe(target.path, exc.headers, self._wall())
                if resumption is not None and resumption.declines(target, exc):
                    await self._release(target)
                    attempts.append(Attempt(target, "skipped", note="declined to continue"))
                    return None, spent
                diagnosis, trusted = read_failure(exc, provider.config, target.model, echo)
                attempts.append(Attempt(target, diagnosis.category.value, diagnosis))
                if (
                    diagnosis.category in REQUEST_FAULTS
                    and diagnosis.category.value not in settings.failover_on
                ):
                    await self._release(target)
                    return Failed(list(attempts), diagnosis, passthrough=exc), spent
                wait = self._retry_wait(diagnosis, settings, attempt_no)
                if wait is None or isinstance(exc, DeadlineMissed | ResponseRefused):
                    break  # a silent or refused path would only be so again: move on at once
                await self._sleep(wait)
                spent += wait
                continue
            spent += time.perf_counter() - started
            self.headroom.observe(target.path, served.response.headers, self._wall())
            try:
                await self._health.succeeded(target.scope)  # the credential works again
                await self._health.succeeded(target.path)
            except BaseException:
                await asyncio.shield(served.response.close())  # never left open upstream
                raise
            attempts.append(Attempt(target, "ok"))
            served.attempts = list(attempts)
            return served, spent
        assert diagnosis is not None
        ambiguous = trusted and is_ambiguous(diagnosis, provider, target_call)
        if ambiguous and await probe_serves(provider, target_call):
            # Not a gate: this request's content was refused. It fails over alone.
            diagnosis = content_refused(diagnosis)
            attempts[-1] = Attempt(target, diagnosis.category.value, diagnosis, PROBE_SERVED)
            await self._release(target)
        elif trusted:
            assert failure is not None
            reset = await self._remember(target, diagnosis, settings, failure)
            if reset is not None:
                attempts[-1] = replace(attempts[-1], resets_at=reset)
        else:
            await self._release(target)
        return diagnosis, spent

    async def _open(
        self, target: Target, provider: Provider, call: UpstreamCall, ask: Ask
    ) -> Served:
        if call.stream:
            return await self._open_stream(target, provider, call, ask)
        response = await provider.open(call)
        served = Served(target, provider, response, [])
        # Read it whole here: a body cut short or not JSON can still fail over.
        served.body = await response.read()
        data = _json_object(served.body)
        if data is None:
            raise UpstreamHTTPError(
                "unreadable response",
                status=502,
                body="Bad Gateway: the upstream's 200 response was not a JSON object",
            )
        served.data = data
        return served

    async def _open_stream(
        self, target: Target, provider: Provider, call: UpstreamCall, ask: Ask
    ) -> Served:
        """Send, then read until the first content event, under the deadline this request
        and path call for: an error or a cut before it can still fail over."""
        await self.pace.refresh(target.path)
        deadline = self.pace.first_event_deadline(target.path, ask, call.settings)
        started = self._clock()
        served: Served | None = None
        try:
            async with asyncio.timeout(deadline):
                served = Served(target, provider, await provider.open(call), [])
                served.splitter = EventSplitter(
                    call.settings.max_event_bytes, served.response.redact
                )
                await self._read_head(served, CODECS[call.dialect])
        except TimeoutError as exc:
            if served is not None:
                await served.response.close()
            detail = (
                f"read timeout: no content event within {deadline:.1f}s of the request "
                f"(the first-event deadline for this request on {target.path})"
            )
            raise DeadlineMissed(detail, log=detail) from exc
        except BaseException:
            if served is not None:
                await served.response.close()
            raise
        self.pace.first_event(target.path, self._clock() - started, ask)
        response = served.response
        idle = self.pace.idle_deadline(target.path, call.settings)
        watched = self.pace.watch(target.path, response.chunks, idle, self._clock)
        response.chunks, response.close = watched, watched.closer(response.close)
        return served

    @staticmethod
    async def _read_head(served: Served, codec: Codec) -> None:
        """Read up to the first content event (thinking counts): an error or a cut before it
        can still fail over, since nothing has reached the client. Handshake and lifecycle
        events (a message start, a created response) are not content."""
        assert served.splitter is not None
        async for chunk in served.response.chunks:
            content = False
            for event in served.splitter.feed(chunk):
                if not content and codec.is_error_event(event):
                    raise UpstreamHTTPError(
                        "error event before content", status=None, body=mask_shapes(event.data)
                    )
                if not content and unreadable(event):
                    raise refuse_unreadable(event)
                served.head.append(event)
                content = content or codec.carries_content(event)
            if content:
                return
        raise StreamBroken(
            "stream ended before any content", log="stream interrupted: ended before content"
        )

    @staticmethod
    def _retry_wait(diagnosis: Diagnosis, settings: Settings, attempt_no: int) -> float | None:
        """Seconds to wait before trying the same target again, or None to move on."""
        if not diagnosis.retryable or attempt_no >= settings.retries:
            return None
        if diagnosis.retry_after_s is not None:
            if diagnosis.retry_after_s > settings.retry_after_max_s:
                return None  # waiting that long is worse than another path
            return float(diagnosis.retry_after_s)
        return RouteChain._backoff(settings, attempt_no)

    @staticmethod
    def _backoff(settings: Settings, attempt_no: int) -> float:
        backoff = min(settings.backoff_max_s, settings.backoff_s * (2.0**attempt_no))
        return backoff * random.uniform(0.5, 1.0)

    async def _admit(self, target: Target) -> tuple[Admission, PathMark | None]:
        """A gate on the path's credential (its provider) holds for all its models."""
        return await self._health.admit(target.scope, target.path)

    async def _release(self, target: Target) -> None:
        """A probe that proved nothing either way (the request itself was at fault)."""
        await self._health.release_probe(target.scope)
        await self._health.release_probe(target.path)

    async def _remember(
        self, target: Target, diagnosis: Diagnosis, settings: Settings, exc: UpstreamError
    ) -> float | None:
        """Mark the path after its last failure; the provider's reset time, if it gave one.

        A gate lasts until the provider's stated reset (at most `MAX_GATE_S`), else `gate_s`;
        either way one probe follows. A limit on one model family gates only that model.
        """
        if diagnosis.category not in GATING and not diagnosis.retryable:
            await self._release(target)
            return None
        now = self._wall()
        reset = provider_reset(exc.status, exc.body, exc.headers, diagnosis, now)
        if diagnosis.category in GATING:
            seconds = min(MAX_GATE_S, reset.at - now) if reset is not None else settings.gate_s
            scoped = model_scoped(diagnosis) or (
                reset is not None and reset.window in MODEL_FAMILY_WINDOWS
            )
            key = target.path if scoped else target.scope
            await self._health.failed(key, diagnosis, seconds, gated=True, reset=reset)
        else:  # transient: a cooldown, as long as the provider's stated wait if longer
            waits = [settings.cooldown_s, diagnosis.retry_after_s or 0.0]
            waits += [min(MAX_GATE_S, reset.at - now)] if reset is not None else []
            await self._health.failed(target.path, diagnosis, max(waits), gated=False, reset=reset)
        return reset.at if reset is not None else None

    @staticmethod
    def _decisive(attempts: list[Attempt], model: str) -> Diagnosis:
        """The diagnosis the client's error is built on: a failure that waiting can cure if
        there is one (so clients may retry), else the preferred path's; this request's own
        failures before those remembered from earlier requests."""
        own = [a.diagnosis for a in attempts if a.diagnosis is not None and a.outcome != "skipped"]
        remembered = [
            a.diagnosis for a in attempts if a.diagnosis is not None and a.outcome == "skipped"
        ]
        diagnosed = own + remembered
        retryable = [d for d in diagnosed if d.retryable]
        if retryable:
            return retryable[0]
        if diagnosed:
            return diagnosed[0]
        return diagnose(status=502, body="", log=f"no path could be tried for {model}")


#: Gates about one model, not the credential: another model on the same path may work (a
#: subscription's weekly limit of one model family leaves the plan's other models serving).
MODEL_SCOPED_CODES = frozenset(
    {
        "model_access_denied",
        "model_not_found",
        "relay_no_channel",
        "model_deprecated",
        "subscription_model_limit",
    }
)


def model_scoped(diagnosis: Diagnosis) -> bool:
    """Whether a gate concerns the model only; auth, permission and quota gates otherwise
    cover every model sent with the same credential (switching models does not help)."""
    return diagnosis.category is Category.MODEL_NOT_FOUND or diagnosis.code in MODEL_SCOPED_CODES


#: Categories whose diagnosis changes what every tenant meets: a gate or a cooldown.
SHARED_EFFECT = GATING | RETRYABLE


def read_failure(
    exc: UpstreamError, provider: ProviderConfig, model: str, echo: ClientEcho | None
) -> tuple[Diagnosis, bool]:
    """What one failed call means, from the provider's own words only, and whether it may
    gate or cool the path for everyone. A body quoting the client (see `echo`) is read again
    with those quotes masked; a request too large to check may fail over but not gate."""
    diagnosis = diagnose_upstream_error(exc, provider, model)
    if echo is None or not exc.body or diagnosis.category not in SHARED_EFFECT:
        return diagnosis, True
    masked = echo.mask(exc.body, model)
    if echo.untrusted:
        return diagnosis, False
    if masked is None:
        return diagnosis, True
    reread = diagnose_upstream_error(exc, provider, model, body=masked)
    return dataclasses.replace(reread, message=diagnosis.message), True


def diagnose_upstream_error(
    exc: UpstreamError,
    provider: ProviderConfig,
    model: str,
    endpoint: str | None = None,
    *,
    body: str | None = None,
) -> Diagnosis:
    """What one failed call means, read with what the path tells (host, kind, model);
    `body` instead of the one the provider sent (masked of the client's quotes)."""
    row = KINDS.get(provider.kind)
    family = provider_from_url(provider.base_url) or (row.family if row is not None else None)
    return diagnose(
        status=exc.status,
        body=exc.body if body is None else body,
        headers=exc.headers,
        provider=family,
        log=exc.log,
        model=model,
        endpoint=endpoint or provider.base_url or None,
    )


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None
