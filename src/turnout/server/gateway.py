"""The running gateway: config, providers and the route chain, built together, over the state
that outlives a config reload (path health, ledger, keys and budgets)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from turnout.config.model import GatewayConfig
from turnout.diagnosis import Diagnosis, explain_code
from turnout.ledger.ledger import Ledger
from turnout.providers import Provider, build_provider
from turnout.providers.transport import HttpTransport
from turnout.router.chain import RouteChain
from turnout.router.health import PathHealth
from turnout.server.access import Budgets, KeyRing


@dataclass
class Shared:
    """What a reload keeps: what is known of paths, what was spent, who may call."""

    health: PathHealth = field(default_factory=PathHealth)
    ledger: Ledger | None = None  # the app owns its start and stop
    keyring: KeyRing = field(default_factory=KeyRing)
    budgets: Budgets = field(default_factory=Budgets)


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
    def ledger(self) -> Ledger | None:
        return self.shared.ledger

    @classmethod
    def build(cls, config: GatewayConfig, shared: Shared | None = None) -> Gateway:
        transport = HttpTransport()
        providers = {
            name: build_provider(provider, transport) for name, provider in config.providers.items()
        }
        shared = shared or Shared()

        def closed(provider: str) -> Diagnosis | None:
            budget = shared.budgets.providers.get(provider)
            if budget is None or not budget.exhausted(time.time()):
                return None
            return explain_code(
                "spend_limit",
                message=f"the ${budget.limit_usd:.2f} per {budget.period} budget of this path "
                "is spent",
                provider=provider,
            )

        chain = RouteChain(config, providers, shared.health, closed=closed)
        return cls(config, providers, chain, transport, shared)

    async def aclose(self) -> None:
        for provider in self.providers.values():
            await provider.aclose()
        await self.transport.aclose()
