"""The running gateway: config, providers and the route chain, built together, over the state
that outlives a config reload (path health, ledger, keys and budgets)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from turnout.access.limits import Budgets, KeyRing
from turnout.config.model import GatewayConfig, Target
from turnout.diagnosis import Diagnosis, explain_code
from turnout.ledger.ledger import Ledger
from turnout.providers import Provider, build_provider
from turnout.providers.transport import HttpTransport
from turnout.redaction import SecretMask
from turnout.routing.chain import RouteChain
from turnout.routing.deadlines import Pace
from turnout.routing.headroom import HeadroomBoard
from turnout.routing.health import PathHealth
from turnout.routing.prefill import PrefillStyles
from turnout.runtime.shutdown import StreamDrain
from turnout.state import MemoryState, StateStore, open_state
from turnout.telemetry.bus import RecordBus
from turnout.telemetry.metrics import Telemetry


@dataclass
class Shared:
    """What a reload keeps: what is known of paths, what was spent, who may call."""

    health: PathHealth = field(default_factory=PathHealth)
    ledger: Ledger | None = None  # the app owns its start and stop
    keyring: KeyRing = field(default_factory=KeyRing)
    budgets: Budgets = field(default_factory=Budgets)
    telemetry: Telemetry = field(default_factory=Telemetry)  # counts for /metrics, /dashboard
    state: StateStore = field(default_factory=MemoryState)  # the app owns its start and stop
    records: RecordBus = field(default_factory=RecordBus)  # every finished request, once
    #: The secrets masked in whatever upstreams send back; a reload's new keys are added.
    mask: SecretMask = field(default_factory=SecretMask)
    streams: StreamDrain = field(default_factory=StreamDrain)  # ended properly at shutdown
    #: How the chain waits between tries (backoff, Retry-After); tests pass a fake clock's.
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    #: What each path has shown of its speed (first-event waits, gaps between chunks).
    pace: Pace = field(default_factory=Pace)
    #: Which paths continue a final assistant message, as learned from their answers.
    prefill: PrefillStyles = field(default_factory=PrefillStyles)
    #: Each path's usage windows as its last response reported them.
    headroom: HeadroomBoard = field(default_factory=HeadroomBoard)

    @classmethod
    def over(cls, state_url: str | None, ledger: Ledger | None = None) -> Shared:
        """Path health and budgets kept in the store `state_url` names (memory for None)."""
        state = open_state(state_url)
        return cls(
            PathHealth(state), ledger, budgets=Budgets(state), state=state,
            pace=Pace(state=state), prefill=PrefillStyles(state),
        )  # fmt: skip

    def __post_init__(self) -> None:
        self.records.subscribe(self.telemetry.observe)
        if self.ledger is not None:
            self.records.subscribe(self.ledger.record)
            self.ledger.writer.on_stored.append(self.telemetry.ledger_stored)


@dataclass
class Gateway:
    config: GatewayConfig
    providers: dict[str, Provider]
    chain: RouteChain
    transport: HttpTransport
    shared: Shared
    active: int = 0  # requests being served; a replaced gateway is closed when it reaches 0

    @property
    def health(self) -> PathHealth:
        return self.shared.health

    @property
    def prefill(self) -> PrefillStyles:
        return self.shared.prefill

    @property
    def ledger(self) -> Ledger | None:
        return self.shared.ledger

    @property
    def telemetry(self) -> Telemetry:
        return self.shared.telemetry

    @property
    def headroom(self) -> HeadroomBoard:
        return self.shared.headroom

    @classmethod
    def build(cls, config: GatewayConfig, shared: Shared | None = None) -> Gateway:
        shared = shared or Shared()
        shared.mask.learn(config.secrets())
        shared.telemetry.labels.configure(config)
        transport = HttpTransport(shared.mask)
        providers = {
            name: build_provider(provider, transport) for name, provider in config.providers.items()
        }

        def closed(target: Target) -> Diagnosis | None:
            provider = target.provider
            if (
                provider in shared.budgets.providers
                and config.price_of(target.provider, target.model) is None
            ):
                return explain_code(  # a budget fails closed: what it cannot count, it refuses
                    "spend_limit",
                    message=f"model {target.model} has no price, and this path has a budget: "
                    "add the model under prices: to use it here",
                    provider=provider,
                )
            budget = shared.budgets.closed(provider, time.time())
            if budget is None:
                return None
            return explain_code(
                "spend_limit",
                message=f"the ${budget.limit_usd:.2f} per {budget.period} budget of this path "
                "is spent",
                provider=provider,
            )

        chain = RouteChain(
            config, providers, shared.health, sleep=shared.sleep, closed=closed, pace=shared.pace,
            headroom=shared.headroom,
        )  # fmt: skip
        return cls(config, providers, chain, transport, shared)

    async def aclose(self) -> None:
        for provider in self.providers.values():
            await provider.aclose()
        await self.transport.aclose()
