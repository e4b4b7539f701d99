"""`/metrics` and `/dashboard`: what the gateway is doing, for Prometheus and for a person.

Both are for the operator, not the clients, so they have their own access rule (`_admit`):
with `server.admin_key` set they need it (as `Authorization: Bearer`, `x-api-key`, `?key=` or
the cookie that `?key=` leaves); without one they are open to loopback clients only, whether
gateway keys exist or not, so the operator at the machine keeps a view even when every gateway
key has been revoked. Nothing here shows a secret: key names and paths only, and upstream
messages are masked like log lines.

The dashboard is one static page (`dashboard_assets/`) that reads `GET /dashboard/state` and
then follows `GET /dashboard/events`, a server-sent event stream of the same snapshot, sent
when a request is recorded (at most twice a second) and a heartbeat every 15 seconds.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import orjson

from turnout import __version__
from turnout.access.limits import Budget, period_start
from turnout.edge.asgi import (
    Receive,
    Send,
    encode_headers,
    end_stream,
    send_chunk,
    start_stream,
)
from turnout.errors import ClientRequestError
from turnout.ledger.keys import KeyStore
from turnout.ledger.record import RequestRecord
from turnout.runtime.gateway import Gateway
from turnout.state import Gate
from turnout.telemetry.metrics import CONTENT_TYPE, Telemetry
from turnout.telemetry.snapshot import path_states, snapshot_of, usage_tables

if TYPE_CHECKING:
    from turnout.edge.app import Request

__all__ = ["ADMIN_PATHS", "AdminViews"]

Handler = Callable[["Request"], Awaitable[None]]

#: Paths that check `_admit` themselves instead of the gateway-key check.
ADMIN_PATHS = frozenset(
    {
        "/metrics",
        "/dashboard",
        "/dashboard/state",
        "/dashboard/events",
        "/dashboard/app.js",
        "/dashboard/app.css",
    }
)
COOKIE = "turnout_admin"
HEARTBEAT_S = 15.0
#: At most this many snapshots a second per stream, however busy the gateway.
DEBOUNCE_S = 0.5
#: A quiet moment after a burst brings one more snapshot, by then with the ledger's usage.
SETTLE_S = 1.5
#: Usage tables come from the database; several streams share one reading this long.
USAGE_TTL_S = 1.0
#: However many dashboards are open or polling, the event loop builds at most one snapshot
#: this often, so they cannot slow the relay down; a caller that wants one newer than the
#: last request waits for the next build rather than causing an extra one.
SNAPSHOT_TTL_S = 1.0
_ASSETS = {
    "/dashboard": ("index.html", "text/html; charset=utf-8"),
    "/dashboard/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/dashboard/app.css": ("app.css", "text/css; charset=utf-8"),
}
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


class AdminViews:
    """The operator's endpoints. `current` gives the gateway in force, so a long-lived event
    stream shows a reloaded config rather than the one it started under."""

    def __init__(
        self,
        current: Callable[[], Gateway],
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._current = current
        self._clock, self._sleep = clock, sleep
        #: The usage tables, when they were read, and how many ledger stores they include.
        self._usage: tuple[float, int, dict[str, Any]] = (0.0, -1, {})
        #: The last snapshot: when it was built, for which gateway, after how many records
        #: and ledger stores.
        self._snapshot: tuple[float, Gateway, tuple[int, int], bytes] | None = None
        self._building: asyncio.Lock | None = None

    @property
    def routes(self) -> dict[tuple[str, str], Handler]:
        return {
            ("GET", "/metrics"): self.metrics,
            ("GET", "/dashboard"): self.asset,
            ("GET", "/dashboard/app.js"): self.asset,
            ("GET", "/dashboard/app.css"): self.asset,
            ("GET", "/dashboard/state"): self.state,
            ("GET", "/dashboard/events"): self.events,
        }

    async def metrics(self, request: Request) -> None:
        gateway = self._current()
        _admit(request, gateway)
        telemetry = gateway.shared.telemetry
        await self._refresh_key_names(gateway)
        marks = await gateway.health.snapshot()
        states = {path: view.state for path, view in path_states(gateway, marks).items()}
        keys, providers = _budgets_left(gateway, telemetry.key_names)
        headroom = gateway.shared.headroom.shares_left(time.time())
        body = telemetry.exposition(states, keys, providers, headroom)
        await _send(request, 200, body, CONTENT_TYPE)

    async def asset(self, request: Request) -> None:
        gateway = self._current()
        if request.path == "/dashboard" and _key_in_query(request) is not None:
            _admit(request, gateway)
            await _remember_and_redirect(request, gateway)
            return
        _admit(request, gateway)
        name, content_type = _ASSETS[request.path]
        await _send(request, 200, _asset(name), content_type, [("content-security-policy", _CSP)])

    async def state(self, request: Request) -> None:
        gateway = self._current()
        _admit(request, gateway)
        await _send(request, 200, await self.snapshot(), "application/json")

    async def snapshot(self) -> bytes:
        """The dashboard's whole state as JSON (see `snapshot.snapshot_of`), built at most
        once per SNAPSHOT_TTL_S for all callers together."""
        if self._building is None:
            self._building = asyncio.Lock()
        async with self._building:  # callers arriving together wait for one build
            gateway = self._current()
            telemetry = gateway.shared.telemetry
            recorded = (telemetry.recorded, telemetry.ledger_stores)
            cached = self._snapshot
            if cached is not None and cached[1] is gateway:
                built, _, seen, body = cached
                age = self._clock() - built
                if age < SNAPSHOT_TTL_S and seen == recorded:
                    return body
                if age < SNAPSHOT_TTL_S:
                    await self._sleep(SNAPSHOT_TTL_S - age)
            gates = await gateway.health.store.gates()
            built, recorded = self._clock(), (telemetry.recorded, telemetry.ledger_stores)
            # Copied here, built on a thread: the event loop keeps relaying meanwhile.
            records, counts = list(telemetry.recent), dict(telemetry.counts.requests)
            state = await asyncio.to_thread(_build, gateway, gates, records, counts)
            state["usage"] = await self._usage_tables(gateway)
            state["version"] = __version__
            body = orjson.dumps(state)
            self._snapshot = (built, gateway, recorded, body)
            return body

    async def events(self, request: Request) -> None:
        """Snapshots as server-sent events until the client goes away."""
        gateway = self._current()
        _admit(request, gateway)
        await start_stream(request.send, [("x-request-id", request.request_id)])
        telemetry = gateway.shared.telemetry
        changed = telemetry.listen()
        try:
            stream = self._stream(request.send, changed, telemetry)
            await _until_first(stream, _disconnected(request.receive))
        finally:
            telemetry.unlisten(changed)
        await end_stream(request.send)  # the server is stopping (a gone client hears nothing)

    async def _stream(self, send: Send, changed: asyncio.Event, telemetry: Telemetry) -> None:
        loop = asyncio.get_running_loop()
        await send_chunk(send, b"retry: 3000\n\n")
        settle = False
        while not telemetry.closed:
            changed.clear()
            await send_chunk(send, _event("snapshot", await self.snapshot()))
            sent = loop.time()
            while not await _wait(changed, SETTLE_S if settle else HEARTBEAT_S):
                if settle:
                    break
                await send_chunk(send, _event("heartbeat", orjson.dumps({"ts": time.time()})))
            settle = changed.is_set()  # a change: one more snapshot when things go quiet
            await asyncio.sleep(max(0.0, sent + DEBOUNCE_S - loop.time()))

    async def _usage_tables(self, gateway: Gateway) -> dict[str, Any]:
        """Read again once this gateway's ledger stored records (so the tables agree with
        the counters), or after USAGE_TTL_S (other replicas write the same ledger)."""
        read_at, stores, tables = self._usage
        now, stored = time.time(), gateway.shared.telemetry.ledger_stores
        if stored != stores or now - read_at >= USAGE_TTL_S:
            ledger = gateway.ledger
            if ledger is None:
                tables = {"ledger": False}
            else:
                tables = await asyncio.to_thread(usage_tables, ledger.store.db, now)
            self._usage = (now, stored, tables)
        return tables

    @staticmethod
    async def _refresh_key_names(gateway: Gateway) -> None:
        """Key names label the usage counters; records carry only key ids."""
        ledger = gateway.ledger
        if ledger is not None:
            keys = await asyncio.to_thread(KeyStore(ledger.store.db).all)
            gateway.shared.telemetry.key_names.update({key.id: key.name for key in keys})


def _build(
    gateway: Gateway,
    gates: Mapping[str, Gate],
    records: list[RequestRecord],
    counts: dict[tuple[str, str, str], int],
) -> dict[str, Any]:
    """The snapshot from copies of what the event loop writes (run on a thread)."""
    return snapshot_of(gateway, gateway.health.marks_of(gates), time.time(), records, counts)


def _budgets_left(
    gateway: Gateway, key_names: dict[str, str]
) -> tuple[dict[str, float], dict[str, float]]:
    """Dollars left this period per key name and per provider, from the spend the gateway
    last read from its state store (no round trip: a scrape should not load the store)."""
    budgets, now = gateway.shared.budgets, time.time()
    keys = {key_names.get(key_id, key_id): _left(b, now) for key_id, b in budgets.keys.items()}
    providers = {name: _left(budget, now) for name, budget in budgets.providers.items()}
    return keys, providers


def _left(budget: Budget, now: float) -> float:
    current = budget.spent_start == period_start(budget.period, now)
    return max(0.0, budget.limit_usd - (budget.spent if current else 0.0))


# --- access -------------------------------------------------------------------------------


def _admit(request: Request, gateway: Gateway) -> None:
    """Raise unless the caller may see the operator's views (see the module docstring)."""
    server = gateway.config.server
    if server.admin_key is None:
        if not _from_loopback(request):
            raise ClientRequestError(
                403,
                "without server.admin_key, /dashboard and /metrics answer loopback clients "
                "only; set server.admin_key (admin_key: ${TURNOUT_ADMIN_KEY}) to reach them "
                "from elsewhere",
                kind="permission",
                code="admin_loopback_only",
            )
        return
    if not _presents_admin_key(request, server.admin_key.value):
        raise ClientRequestError(
            401,
            "missing or wrong admin key (Authorization: Bearer, x-api-key, or ?key= in a browser)",
            kind="auth",
            code="invalid_admin_key",
        )


def _presents_admin_key(request: Request, admin_key: str) -> bool:
    headers = request.headers
    presented = headers.get("x-api-key") or _key_in_query(request) or ""
    bearer = headers.get("authorization", "")
    if not presented and bearer.lower().startswith("bearer "):
        presented = bearer[7:].strip()
    if presented:
        return hmac.compare_digest(presented.encode(), admin_key.encode())
    cookie = _cookies(headers.get("cookie", "")).get(COOKIE, "")
    return hmac.compare_digest(cookie.encode(), _cookie_token(admin_key).encode())


def _cookie_token(admin_key: str) -> str:
    """What the browser keeps: derived from the admin key, so the cookie is not the key."""
    return hashlib.sha256(b"turnout-dashboard\0" + admin_key.encode()).hexdigest()


def _cookies(header: str) -> dict[str, str]:
    pairs = (part.strip().partition("=") for part in header.split(";"))
    return {name: value for name, _, value in pairs if name}


def _key_in_query(request: Request) -> str | None:
    query = parse_qs(request.scope.get("query_string", b"").decode("latin-1"))
    values = query.get("key")
    return values[0] if values else None


def _from_loopback(request: Request) -> bool:
    client = request.scope.get("client")
    if not client:
        return False
    try:
        return ipaddress.ip_address(client[0]).is_loopback
    except ValueError:
        return False


async def _remember_and_redirect(request: Request, gateway: Gateway) -> None:
    """`/dashboard?key=...` opened in a browser: keep a cookie, drop the key from the URL."""
    admin_key = gateway.config.server.admin_key
    headers = [("location", "/dashboard"), ("referrer-policy", "no-referrer")]
    if admin_key is not None:
        token = _cookie_token(admin_key.value)
        cookie = f"{COOKIE}={token}; Path=/dashboard; HttpOnly; SameSite=Strict"
        headers.append(("set-cookie", cookie))
    await _send(request, 303, b"", "text/plain; charset=utf-8", headers)


# --- responses and streams ----------------------------------------------------------------


@cache
def _asset(name: str) -> bytes:
    return resources.files("turnout.edge").joinpath("dashboard_assets", name).read_bytes()


async def _send(
    request: Request,
    status: int,
    body: bytes,
    content_type: str,
    headers: Iterable[tuple[str, str]] = (),
) -> None:
    head = [
        ("content-type", content_type),
        ("x-request-id", request.request_id),
        ("cache-control", "no-store"),
        ("x-content-type-options", "nosniff"),
        *headers,
    ]
    send = request.send
    await send({"type": "http.response.start", "status": status, "headers": encode_headers(head)})
    await send({"type": "http.response.body", "body": body})


def _event(name: str, data: bytes) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + data + b"\n\n"


async def _wait(event: asyncio.Event, seconds: float) -> bool:
    """Whether `event` was set within `seconds`."""
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        return False
    return True


async def _disconnected(receive: Receive) -> None:
    """Returns when the client hangs up (the server would drop our writes silently)."""
    while (await receive())["type"] != "http.disconnect":
        pass


async def _until_first(*work: Awaitable[None]) -> None:
    """Run all; when one ends, cancel the others (and raise what the first one raised)."""
    tasks = [asyncio.ensure_future(item) for item in work]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for task in done:
        task.result()
