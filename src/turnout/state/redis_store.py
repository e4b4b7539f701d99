"""State in Redis, shared by every replica, with the process's memory as a fallback.

Each operation is one Lua script (one round trip). Redis's own expiry ends gates, probe leases,
rate windows and budget periods, so nothing needs sweeping. When Redis cannot be reached the
replica keeps serving on its memory (see `MemoryState`), says so once, retries every
`retry_s`, and on reconnecting pushes the gates it still holds before reading Redis again.
No client request ever fails because Redis is down.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from turnout.periodic import Every
from turnout.state import scripts
from turnout.state.base import (
    HOLD_S,
    MARK_LINGER_S,
    MAX_NOTES,
    NOTE_LINGER_S,
    PROBE_LEASE_S,
    Admission,
    BudgetHold,
    BudgetRefused,
    Gate,
    RateRefused,
    RateTerms,
    Settlement,
    StateStatus,
)
from turnout.state.memory import MemoryState

log = logging.getLogger("turnout.state")

T = TypeVar("T")
#: What an unreachable, restarting or misbehaving Redis raises: each means "use memory".
UNAVAILABLE = (RedisError, OSError, asyncio.TimeoutError)


def _num(value: float) -> str:
    """A float as Lua's tonumber reads it back exactly."""
    return repr(float(value))


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


class RedisState:
    """The StateStore shared through Redis (see `turnout.state.base`)."""

    backend = "redis"

    def __init__(
        self,
        url: str,
        prefix: str = "turnout",
        *,
        timeout_s: float = 0.1,
        retry_s: float = 1.0,
        local: MemoryState | None = None,
    ) -> None:
        # Short timeouts and no client-side retries: a dead Redis costs one timeout, once.
        self._client = aioredis.Redis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0),
        )
        self._prefix = prefix
        self._watch = Every(retry_s, self._retry_if_down, what="Redis reconnect")
        self.local = local or MemoryState()
        self._connected = False
        self._since = time.time()
        self._outages = 0  # how many times Redis went away (the first start counts as one)
        self._admit = self._client.register_script(scripts.ADMIT)
        self._mark = self._client.register_script(scripts.MARK)
        self._clear = self._client.register_script(scripts.CLEAR)
        self._peek = self._client.register_script(scripts.PEEK)
        self._admit_key = self._client.register_script(scripts.ADMIT_KEY)
        self._settle = self._client.register_script(scripts.SETTLE)
        self._merge = self._client.register_script(scripts.MERGE_SPENT)
        self._remember = self._client.register_script(scripts.REMEMBER)

    # Connection: the circuit and its recovery

    async def start(self) -> None:
        """Connect (or note that Redis is down) and watch for its return; never raises."""
        if not await self._reconnect():
            self._since, self._outages = time.time(), 1
            log.warning("state: Redis unreachable at start-up; serving on memory until it is")
        self._watch.start()

    async def aclose(self) -> None:
        await self._watch.stop()
        await self._client.aclose()

    def status(self) -> StateStatus:
        return StateStatus(self.backend, self._connected, self._since)

    async def _retry_if_down(self) -> None:
        """While Redis is down, try it again (requests never wait for that)."""
        if not self._connected:
            await self._reconnect()

    async def _reconnect(self) -> bool:
        try:
            # Connections pooled before the outage are dead: each would fail once more.
            await self._client.connection_pool.disconnect()
            await self._client.ping()
            await self._resync()
        except UNAVAILABLE:
            return False
        # No await between the resync's last look at memory and this: no gate falls between.
        self.local.forget_gates()
        was_down = time.time() - self._since
        self._connected, self._since = True, time.time()
        if self._outages:
            log.info("state: Redis reachable again after %.1fs on memory, resynchronised", was_down)
        else:
            log.info("state: sharing paths, limits and spend through Redis")
        return True

    def _lost(self, exc: BaseException) -> None:
        if self._connected:
            self._connected, self._since = False, time.time()
            self._outages += 1
            log.warning(
                "state: Redis unreachable (%s); serving on this replica's memory, "
                "retrying every %.0fs",
                str(exc) or type(exc).__name__,
                self._watch.interval_s,
            )

    async def _resync(self) -> None:
        """Push what this replica learned while Redis was away (gates still in force, where
        Redis has none for the path; the larger spend of each budget) before relying on it."""
        now = time.time()
        for budget, (spent, expires_at) in self.local.spends().items():
            if expires_at > now:
                keys = [self._key("budget", budget)]
                await self._merge(keys, [_num(spent), _ms(expires_at)])
        pushed: set[str] = set()
        while fresh := {p: g for p, g in self.local.gates_in_force().items() if p not in pushed}:
            for path, gate in fresh.items():
                await self._write_mark(
                    path, gate.gated, gate.reason, gate.seconds_left, only_new=True
                )
                pushed.add(path)

    async def _either(
        self, remote: Callable[[], Awaitable[T]], fallback: Callable[[], Awaitable[T]]
    ) -> T:
        """Redis while it answers; this replica's memory when it does not."""
        if self._connected:
            try:
                return await remote()
            except UNAVAILABLE as exc:
                self._lost(exc)
        return await fallback()

    def _key(self, *parts: str) -> str:
        return ":".join((self._prefix, *parts))

    def _path_keys(self, path: str) -> list[str]:
        return [self._key("path", path, part) for part in ("mark", "gate", "probe")]

    # Paths

    async def admit(self, *paths: str) -> tuple[Admission, Gate | None]:
        return await self._either(
            lambda: self._admit_remote(paths), lambda: self.local.admit(*paths)
        )

    async def _admit_remote(self, paths: tuple[str, ...]) -> tuple[Admission, Gate | None]:
        keys = [key for path in paths for key in self._path_keys(path)]
        reply = await self._admit(keys, [_ms(PROBE_LEASE_S)])
        if reply[0] == b"go":
            return Admission.GO, None
        path = paths[int(reply[4]) - 1]
        gate = _gate(reply[1], reply[2], reply[3])
        if gate.seconds_left > 0:  # mirrored, so an outage does not forget it
            await self.local.mark(path, gate.gated, gate.reason, gate.seconds_left)
        return Admission(reply[0].decode()), gate

    async def mark(self, path: str, gated: bool, reason: str, seconds: float) -> None:
        await self.local.mark(path, gated, reason, seconds)
        await self._either(lambda: self._write_mark(path, gated, reason, seconds), _nothing)

    async def _write_mark(
        self, path: str, gated: bool, reason: str, seconds: float, *, only_new: bool = False
    ) -> None:
        value = ("G" if gated else "C") + reason
        args: list[str | int] = [value, _ms(seconds), _ms(MARK_LINGER_S), path, str(int(only_new))]
        await self._mark([*self._path_keys(path), self._key("paths")], args)

    async def clear(self, path: str) -> None:
        await self.local.clear(path)
        keys = [*self._path_keys(path), self._key("paths")]
        await self._either(lambda: self._clear(keys, [path]), _nothing)

    async def release_probe(self, path: str) -> None:
        await self.local.release_probe(path)
        await self._either(lambda: self._client.delete(self._path_keys(path)[2]), _nothing)

    async def peek(self, path: str) -> Gate | None:
        async def remote() -> Gate | None:
            reply = await self._peek(self._path_keys(path))
            return None if reply is None else _gate(*reply)

        return await self._either(remote, lambda: self.local.peek(path))

    async def gates(self) -> dict[str, Gate]:
        return await self._either(self._gates_remote, self.local.gates)

    async def _gates_remote(self) -> dict[str, Gate]:
        index = self._key("paths")
        paths = sorted(_text(p) for p in await self._client.smembers(index))
        found: dict[str, Gate] = {}
        for path in paths:
            gate = await self.peek(path)
            if gate is None:
                await self._client.srem(index, path)  # its mark expired
            else:
                found[path] = gate
        return found

    # Rate windows and budgets

    async def admit_key(self, terms: RateTerms, hold: BudgetHold | None, now: float) -> float:
        async def fallback() -> float:
            return await self.local.admit_key(terms, hold, now)

        spent = await self._either(lambda: self._admit_key_remote(terms, hold, now), fallback)
        if hold is not None:
            self.local.follow(hold.budget, spent, hold.expires_at)
        return spent

    async def _admit_key_remote(
        self, terms: RateTerms, hold: BudgetHold | None, now: float
    ) -> float:
        keys = [
            self._key("rate", terms.key_id, "requests"),
            self._key("rate", terms.key_id, "tokens"),
            self._key("budget", hold.budget if hold else "-"),
            self._key("budget", hold.budget if hold else "-", "holds"),
        ]
        args: list[str | int] = [
            _ms(now),
            -1 if terms.rpm is None else terms.rpm,
            -1 if terms.tpm is None else terms.tpm,
            hold.token if hold else uuid.uuid4().hex,
        ]
        if hold is None:
            args += ["0", "0", "0", "0", "0", "0"]
        else:
            args += ["1", _num(hold.amount), _num(hold.limit), _num(hold.seed)]
            args += [_ms(hold.expires_at), _ms(HOLD_S)]
        reply = await self._admit_key(keys, args)
        verdict, value = reply[0].decode(), float(reply[1])
        if verdict == "rate":
            raise RateRefused(value / 1000)
        if verdict == "budget":
            raise BudgetRefused(value)
        return value

    async def settle(
        self, key_id: str | None, tokens: int, settlements: list[Settlement], now: float
    ) -> list[float]:
        async def fallback() -> list[float]:
            return await self.local.settle(key_id, tokens, settlements, now)

        spent = await self._either(
            lambda: self._settle_remote(key_id, tokens, settlements, now), fallback
        )
        for item, total in zip(settlements, spent, strict=True):
            self.local.follow(item.budget, total, item.expires_at)
        return spent

    async def _settle_remote(
        self, key_id: str | None, tokens: int, settlements: list[Settlement], now: float
    ) -> list[float]:
        keys = [self._key("rate", key_id or "-", "tokens")]
        args: list[str | int] = [_ms(now), -1 if key_id is None else tokens, uuid.uuid4().hex]
        for item in settlements:
            keys += [self._key("budget", item.budget), self._key("budget", item.budget, "holds")]
            member = f"{item.token}|{_num(item.held)}"
            args += [member, _num(item.actual), _num(item.seed), _ms(item.expires_at)]
        reply = await self._settle(keys, args)
        return [float(value) for value in reply]

    async def spent(self, budgets: list[str]) -> list[float]:
        async def remote() -> list[float]:
            async with self._client.pipeline(transaction=False) as pipe:
                for budget in budgets:
                    pipe.hget(self._key("budget", budget), "spent")
                values = await pipe.execute()
            return [float(v) if v is not None else 0.0 for v in values]

        return await self._either(remote, lambda: self.local.spent(budgets))

    # Notes

    async def remember(self, topic: str, key: str, value: str) -> None:
        await self.local.remember(topic, key, value)
        keys = [self._key("notes", topic, part) for part in ("values", "order", "seq")]
        await self._either(
            lambda: self._remember(keys, [key, value, MAX_NOTES, _ms(NOTE_LINGER_S)]), _nothing
        )

    async def recall(self, topic: str, keys: list[str]) -> list[str | None]:
        async def remote() -> list[str | None]:
            if not keys:
                return []
            values = await self._client.hmget(self._key("notes", topic, "values"), keys)
            return [None if v is None else _text(v) for v in values]

        return await self._either(remote, lambda: self.local.recall(topic, keys))


async def _nothing() -> None:
    """The fallback of a write already made to memory."""


def _gate(mark: bytes, left_ms: int, probing: int) -> Gate:
    text = mark.decode()
    return Gate(text[0] == "G", text[1:], max(0, int(left_ms)) / 1000, bool(probing))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
