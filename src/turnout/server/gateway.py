"""The running gateway: config, providers, path health and the route chain, built together."""

from __future__ import annotations

from dataclasses import dataclass

from turnout.config.model import GatewayConfig
from turnout.ledger.ledger import Ledger
from turnout.providers import Provider, build_provider
from turnout.providers.transport import HttpTransport
from turnout.router.chain import RouteChain
from turnout.router.health import PathHealth


@dataclass
class Gateway:
    config: GatewayConfig
    providers: dict[str, Provider]
    health: PathHealth
    chain: RouteChain
    transport: HttpTransport
    ledger: Ledger | None = None  # outlives reloads: the app owns its start and stop
    active: int = 0  # requests being served; a replaced gateway is closed when it reaches 0

    @classmethod
    def build(
        cls, config: GatewayConfig, health: PathHealth | None = None, ledger: Ledger | None = None
    ) -> Gateway:
        transport = HttpTransport()
        providers = {
            name: build_provider(provider, transport) for name, provider in config.providers.items()
        }
        health = health or PathHealth()
        chain = RouteChain(config, providers, health)
        return cls(config, providers, health, chain, transport, ledger)

    async def aclose(self) -> None:
        for provider in self.providers.values():
            await provider.aclose()
        await self.transport.aclose()
