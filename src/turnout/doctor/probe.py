"""Probe every configured path with one real one-token request, and read a gateway's gates.

Probes go through the same `Provider` objects the gateway builds, so the URL, the auth
headers and the dialect are exactly what traffic would use. Nothing here prints: callers
get `PathResult`s (and a callback as each one finishes) and render them as they like.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit, urlunsplit

import orjson

from turnout.config.model import GatewayConfig, ProviderConfig, RouteConfig, Settings
from turnout.diagnosis import Diagnosis
from turnout.doctor.gateway import GatewayState, read_gateway
from turnout.errors import UpstreamError, UpstreamHTTPError, UpstreamTransportError
from turnout.providers import Provider, UpstreamCall, build_provider
from turnout.providers.anthropic import is_oauth_token
from turnout.providers.registry import KINDS
from turnout.providers.transport import HttpTransport
from turnout.routing.chain import diagnose_upstream_error
from turnout.routing.headroom import Window, read_windows
from turnout.wire import CHAT, CODECS, Codec, hub

DEFAULT_TIMEOUT_S = 20.0
#: A route name with these is a pattern (as in `turnout.routing.resolve`): no model name of its own.
GLOB_CHARS = frozenset("*?[")
PROBE_PROMPT = "ping"
#: Header names where a provider says how much is left and when it resets; first present wins.
QUOTA_HEADERS: dict[str, tuple[str, ...]] = {
    "requests_remaining": (
        "anthropic-ratelimit-requests-remaining",
        "x-ratelimit-remaining-requests",
    ),
    "tokens_remaining": ("anthropic-ratelimit-tokens-remaining", "x-ratelimit-remaining-tokens"),
    "requests_reset": ("anthropic-ratelimit-requests-reset", "x-ratelimit-reset-requests"),
    "tokens_reset": ("anthropic-ratelimit-tokens-reset", "x-ratelimit-reset-tokens"),
}


@dataclass(frozen=True, slots=True)
class PathPlan:
    """One distinct provider/model path to probe, and the routes that use it."""

    provider: ProviderConfig
    model: str
    routes: tuple[str, ...]
    settings: Settings
    skip_reason: str | None = None  # set when there is no concrete request to send

    @property
    def path(self) -> str:
        return f"{self.provider.name}/{self.model}"

    @property
    def endpoint(self) -> str:
        return public_url(self.provider.base_url)

    @property
    def auth(self) -> str:
        return auth_kind(self.provider)


@dataclass(frozen=True, slots=True)
class PathResult:
    """What one probe saw. `ok` only when a 2xx answer with a JSON body came back."""

    plan: PathPlan
    status: int | None = None
    latency_ms: int | None = None
    diagnosis: Diagnosis | None = None
    quota: dict[str, str] = field(default_factory=dict)
    #: The usage windows the answer's headers report (subscription 5h/7d, request limits...).
    headroom: tuple[Window, ...] = ()

    @property
    def ok(self) -> bool:
        return self.plan.skip_reason is None and self.diagnosis is None and self.status is not None


@dataclass(frozen=True, slots=True)
class RouteHealth:
    """How one route fared. A pattern target (`provider/*`) has no model name of its own to
    ask for; it counts as answering when its provider answered on another path."""

    name: str
    paths: tuple[str, ...]
    working: tuple[str, ...]
    probed: int = 0  # paths actually tried (pattern targets such as `*` cannot be)
    answering: tuple[str, ...] = ()  # providers of unprobed targets that answered elsewhere

    @property
    def ok(self) -> bool:
        return bool(self.working or self.answering)

    @property
    def state(self) -> str:
        """`ok`, `down` (every path tried failed) or `unknown` (nothing could be tried)."""
        if self.ok:
            return "ok"
        return "down" if self.probed else "unknown"


#: `turnout doctor`'s exit status by whether traffic can be served.
EXIT_ALL_ROUTES_WORK = 0
EXIT_NOTHING_SERVES = 1
EXIT_SOME_ROUTES_DOWN = 3


@dataclass(frozen=True, slots=True)
class DoctorReport:
    source: str
    results: list[PathResult]
    routes: dict[str, RouteHealth]
    gateway: GatewayState
    unavailable: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def named(self, state: str) -> list[str]:
        return [name for name, r in self.routes.items() if r.state == state]

    @property
    def down(self) -> list[str]:
        """Routes whose probed paths all failed; a route nothing could be sent to is not down."""
        return self.named("down")

    @property
    def exit_code(self) -> int:
        """0: every route serves; 1: no route does; 3: some serve and some are down."""
        if not self.named("ok"):
            return EXIT_NOTHING_SERVES
        return EXIT_SOME_ROUTES_DOWN if self.down else EXIT_ALL_ROUTES_WORK


def public_url(url: str) -> str:
    """The URL without user info or query, where keys sometimes hide."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", "")) if parts.scheme else url


def auth_kind(provider: ProviderConfig) -> str:
    """How the provider authenticates, named without showing the credential."""
    named = KINDS[provider.kind].auth_name(provider) if provider.kind in KINDS else None
    if named is not None:
        return named
    key = provider.api_key.value if provider.api_key else ""
    if key and provider.kind == "anthropic" and is_oauth_token(key):
        return "oauth subscription token"
    if key:
        return "api key"
    if {"authorization", "x-api-key", "api-key"} & {h.lower() for h in provider.headers}:
        return "custom header"
    return "none"


def _route_model(route: RouteConfig, model: str) -> str | None:
    """The model a target sends: `*` means the requested name, known only for exact routes."""
    if model != "*":
        return model
    return None if GLOB_CHARS & set(route.name) else route.name


def plan_paths(config: GatewayConfig, route: str | None = None) -> list[PathPlan]:
    """Each distinct provider/model across the routes (or one route), in config order."""
    routes = [config.routes[route]] if route is not None else list(config.routes.values())
    plans: dict[str, PathPlan] = {}
    for entry in routes:
        for target in entry.targets:
            provider = config.providers[target.provider]
            model = _route_model(entry, target.model)
            skip = None
            if model is None:
                model = target.model
                skip = f"pattern route {entry.name!r} sends the model the client asks for"
            key = f"{provider.name}/{model}"
            if key in plans:
                plans[key] = replace(plans[key], routes=(*plans[key].routes, entry.name))
                continue
            settings = config.settings_for(entry, provider)
            plans[key] = PathPlan(provider, model, (entry.name,), settings, skip)
    return list(plans.values())


def probe_body(model: str, codec: Codec = CHAT) -> bytes:
    """One user turn and one output token, in the path's wire."""
    turn = hub.Message("user", [hub.Text(PROBE_PROMPT)], plain=True)
    request = hub.Request(model=model, messages=[turn], max_tokens=1)
    return orjson.dumps(codec.encode_request(request, model, []))


def read_quota(headers: Mapping[str, str]) -> dict[str, str]:
    """Remaining requests/tokens and reset times, as the provider wrote them."""
    lowered = {k.lower(): v for k, v in headers.items()}
    quota: dict[str, str] = {}
    for name, candidates in QUOTA_HEADERS.items():
        value = next((lowered[h] for h in candidates if h in lowered), None)
        if value is not None:
            quota[name] = value
    return quota


def diagnose_failure(exc: UpstreamError, plan: PathPlan) -> Diagnosis:
    """The gateway's own reading of a failure, with an endpoint fit to show."""
    return diagnose_upstream_error(exc, plan.provider, plan.model, plan.endpoint or None)


def _probe_call(provider: Provider, plan: PathPlan, timeout: float) -> UpstreamCall:
    settings = replace(
        plan.settings,
        connect_timeout_s=min(plan.settings.connect_timeout_s, timeout),
        read_timeout_s=min(plan.settings.read_timeout_s, timeout),
    )
    speaks = provider.dialect_for(plan.model)
    dialect = CHAT.name if speaks == "any" else speaks
    body = probe_body(plan.model, CODECS[dialect])
    return UpstreamCall("chat", dialect, body, plan.model, False, settings)


async def _exchange(provider: Provider, call: UpstreamCall) -> tuple[int, dict[str, str]]:
    """Send the call and read the answer; a 2xx that is not JSON is a failure too."""
    response = await provider.open(call)
    body = await response.read()
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, dict):
        text = body[:4096].decode("utf-8", errors="replace")
        raise UpstreamHTTPError(
            "a 2xx answer that is not JSON",
            status=response.status,
            body=text,
            headers=response.headers,
        )
    return response.status, response.headers


async def probe_path(provider: Provider, plan: PathPlan, timeout: float) -> PathResult:
    """One request, bounded by `timeout` seconds, never raising for the path's failures."""
    if plan.skip_reason is not None:
        return PathResult(plan)
    started = time.perf_counter()
    try:
        call = _probe_call(provider, plan, timeout)
        status, headers = await asyncio.wait_for(_exchange(provider, call), timeout)
    except TimeoutError:
        log = f"read timeout: no answer within {timeout:g}s calling {plan.endpoint}"
        exc: UpstreamError = UpstreamTransportError(log, log=log)
    except UpstreamError as caught:
        exc = caught
    else:
        elapsed = round((time.perf_counter() - started) * 1000)
        windows = tuple(read_windows(headers, time.time()))
        return PathResult(plan, status, elapsed, None, read_quota(headers), windows)
    elapsed = round((time.perf_counter() - started) * 1000)
    diagnosis = diagnose_failure(exc, plan)
    windows = tuple(read_windows(exc.headers, time.time()))
    return PathResult(plan, exc.status, elapsed, diagnosis, read_quota(exc.headers), windows)


def route_health(config: GatewayConfig, results: list[PathResult]) -> dict[str, RouteHealth]:
    """Per probed route: its paths, those that answered, and for its pattern targets whether
    their provider answered on another path."""
    answered = {r.plan.provider.name for r in results if r.ok}
    routes: dict[str, RouteHealth] = {}
    for result in results:
        plan = result.plan
        for name in plan.routes:
            route = routes.get(name, RouteHealth(name, (), ()))
            working = (*route.working, plan.path) if result.ok else route.working
            answering = route.answering
            if plan.skip_reason is not None and plan.provider.name in answered:
                answering = (*answering, plan.provider.name)
            probed = route.probed + (plan.skip_reason is None)
            paths = (*route.paths, plan.path)
            routes[name] = RouteHealth(name, paths, working, probed, answering)
    return {name: routes[name] for name in config.routes if name in routes}


async def _probe_all(
    config: GatewayConfig,
    plans: list[PathPlan],
    timeout: float,
    on_done: Callable[[PathResult], None],
) -> list[PathResult]:
    transport = HttpTransport()
    providers = {name: build_provider(p, transport) for name, p in config.providers.items()}

    async def one(plan: PathPlan) -> PathResult:
        result = await probe_path(providers[plan.provider.name], plan, timeout)
        on_done(result)
        return result

    try:
        return list(await asyncio.gather(*(one(plan) for plan in plans)))
    finally:
        for provider in providers.values():
            await provider.aclose()
        await transport.aclose()


async def run_doctor(
    config: GatewayConfig,
    *,
    gateway_url: str,
    route: str | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    on_done: Callable[[PathResult], None] = lambda _result: None,
) -> DoctorReport:
    """Probe the paths and ask the gateway at `gateway_url` what it gates, all at once."""
    plans = plan_paths(config, route)
    key = config.server.keys[0].value if config.server.keys else None
    results, gateway = await asyncio.gather(
        _probe_all(config, plans, timeout, on_done),
        read_gateway(gateway_url, key, min(timeout, 5.0)),
    )
    routes = route_health(config, results)
    return DoctorReport(config.source, results, routes, gateway, config.unavailable)
