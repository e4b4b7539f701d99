"""The configuration as the gateway uses it: validated, immutable, secrets kept out of reprs."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields, replace
from typing import Any
from urllib.parse import urlsplit

from turnout.catalog.prices import Price, overridden_price, price_of


class Secret:
    """A credential: usable as `.value`, never shown by repr, str or logs."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    @property
    def value(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('****')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


@dataclass(frozen=True, slots=True)
class Settings:
    """Retry, cooldown and timeout knobs; set in `defaults:`, per provider and per route."""

    retries: int = 2  # extra tries of the same target on a retryable failure
    backoff_s: float = 0.25  # first backoff; doubles each retry, with jitter
    backoff_max_s: float = 8.0
    retry_after_max_s: float = 20.0  # a longer Retry-After fails over instead of waiting
    cooldown_s: float = 15.0  # how long a path that kept failing transiently is skipped
    gate_s: float = 30.0  # a gated path's skip when no reset time is known; then one probe
    connect_timeout_s: float = 10.0
    headers_timeout_s: float = 60.0  # from sending the request to the response headers
    #: Ceiling of the wait from sending a stream's request to its first content event; the
    #: deadline itself follows the request and the path (routing/deadlines.py).
    first_event_timeout_s: float = 300.0
    first_event_floor_s: float = 2.0  # the least a path's learned first-event deadline may be
    read_timeout_s: float = 120.0  # silence allowed between events or bytes (a ceiling)
    idle_floor_s: float = 5.0  # the least a path's learned idle deadline may be
    response_timeout_s: float = 600.0  # a whole (non-streamed) response, sent to last byte
    max_response_bytes: int = 32 * 1024 * 1024  # a whole response, after decompression
    max_stream_bytes: int = 64 * 1024 * 1024  # everything one stream sends, decompressed
    max_event_bytes: int = 8 * 1024 * 1024  # one stream event (a line without its end)
    failover_on: tuple[str, ...] = ()  # extra categories that fail over (invalid_request, ...)
    #: Headroom kept back: below this share of a window left (0.05 = 5%), the path yields to
    #: the next one of its route and serves only when no other can. 0: used to the gate.
    reserve: float = 0.0
    #: Send a request to a path whose wire cannot carry all it asks for (a structured output
    #: format, an image), dropping what does not fit, instead of refusing that path.
    allow_drop: bool = False

    def merged(self, overrides: dict[str, Any]) -> Settings:
        return replace(self, **overrides)


SETTING_NAMES = frozenset(f.name for f in fields(Settings))
#: Settings that are a share (0 to below 1), not seconds or counts.
SHARE_SETTINGS = frozenset({"reserve"})
#: Provider headers whose values are credentials (`api-key`, `x-goog-api-key`, `cookie`...).
_CREDENTIAL_HEADER = re.compile(r"(?i)key|token|auth|secret|cookie|signature|password")


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    name: str
    kind: str  # a row of turnout.providers.registry.KINDS
    base_url: str
    api_key: Secret | None = None
    #: `api_key: client`: the credential each client sends is forwarded to this provider as
    #: it came (a subscription login's token included), never stored; `api_key` stays None.
    client_credential: bool = False
    headers: dict[str, str] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)  # overrides of Settings
    context_windows: dict[str, int] = field(default_factory=dict)
    script: tuple[dict[str, Any], ...] = ()  # mock replies, in order, repeating the last
    budget: tuple[float, str] | None = None  # dollars per day, week or month on this path
    #: How this path continues a final assistant message (anthropic, deepseek, vllm, none);
    #: None or "auto": known by kind and host, learned from answers (routing/prefill.py).
    prefill: str | None = None
    #: The kind's own options, as its row checked them (region, deployments, api_version...).
    options: dict[str, Any] = field(default_factory=dict)
    #: The wire an `openai` path speaks: "openai" (Chat Completions) or "responses".
    wire: str = "openai"

    def served_model(self, model: str) -> str:
        """The model a path's model name stands for: a deployment its `deployments` map
        names (Azure's `az/prod-4o`) is the model mapped to it; any other name is itself."""
        deployments: dict[str, str] = self.options.get("deployments") or {}
        if model in deployments:
            return model
        return next((m for m, d in deployments.items() if d == model), model)


@dataclass(frozen=True, slots=True)
class Target:
    """One path of a route: a provider and the model name it knows. On a provider that takes
    the client's own credential, `account` names that credential (a digest, never the secret),
    so each client's gates and headroom are its own."""

    provider: str
    model: str
    account: str = ""

    @property
    def scope(self) -> str:
        """What a credential-wide gate is kept under: the provider, or one client's use of it."""
        return f"{self.provider}@{self.account}" if self.account else self.provider

    @property
    def path(self) -> str:
        return f"{self.scope}/{self.model}"


@dataclass(frozen=True, slots=True)
class RouteConfig:
    name: str
    targets: tuple[Target, ...]
    settings: dict[str, Any] = field(default_factory=dict)
    #: `embeddings: true | false`; None: known from the names (a route or model that says
    #: "embed" is one). An embeddings route's paths must all give the same vectors.
    embeddings: bool | None = None


@dataclass(frozen=True, slots=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8787
    max_body_bytes: int = 32 * 1024 * 1024
    #: On SIGTERM, how long open streams may run on before each ends with an error event.
    drain_s: float = 10.0
    keys: tuple[Secret, ...] = ()  # gateway keys clients must present; none means open
    admin_key: Secret | None = None  # opens /dashboard and /metrics once gateway keys exist


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    providers: dict[str, ProviderConfig]
    routes: dict[str, RouteConfig]
    defaults: Settings = field(default_factory=Settings)
    server: ServerConfig = field(default_factory=ServerConfig)
    aliases: dict[str, str] = field(default_factory=dict)  # model name -> route name
    tasks: dict[str, str] = field(default_factory=dict)  # task kind -> route name
    source: str = "<embedded default>"
    #: A SQLite file, a postgresql:// URL, "off", or None for the file in the data directory.
    ledger: str | None = None
    prices: dict[str, Price] = field(default_factory=dict)  # model glob -> price override
    _settings: dict[tuple[str, str], Settings] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    #: Where path health, rate windows and budgets are kept: "memory", a sqlite:// file, a
    #: redis:// URL (replicas), or None: `turnout serve` keeps them in a file beside the ledger
    #: (so gates outlive a restart), in-process gateways (tests) in memory.
    state: str | None = None
    #: Providers left out because a variable they need is unset (their routes keep their other
    #: paths): provider name -> what is missing, each with the file and line.
    unavailable: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def secrets(self) -> list[str]:
        """Every credential this config holds, for masking by value: provider keys and
        credential-like headers, gateway and admin keys, passwords in ledger and state URLs."""
        found = [p.api_key.value for p in self.providers.values() if p.api_key]
        found += [
            value
            for p in self.providers.values()
            for name, value in p.headers.items()
            if _CREDENTIAL_HEADER.search(name)
        ]
        found += [  # a kind's own secrets (an Entra client secret...) are kept as Secret too
            value.value
            for p in self.providers.values()
            for value in p.options.values()
            if isinstance(value, Secret)
        ]
        found += [key.value for key in self.server.keys]
        if self.server.admin_key:
            found.append(self.server.admin_key.value)
        for url in (self.ledger, self.state):
            password = urlsplit(url).password if url and "://" in url else None
            if password:
                found.append(password)
        return found

    def price_of(self, provider: str, model: str) -> Price | None:
        """The price of `model` on the path through `provider`: a deployment costs what the
        model it serves does, unless `prices:` names the deployment itself."""
        path = self.providers.get(provider)
        served = path.served_model(model) if path is not None else model
        if served != model:
            own = overridden_price(model, self.prices)
            if own is not None:
                return own
        return price_of(served, self.prices)

    def settings_for(self, route: RouteConfig, provider: ProviderConfig) -> Settings:
        """Defaults, then the provider's overrides, then the route's (worked out once)."""
        key = (route.name, provider.name)
        settings = self._settings.get(key)
        if settings is None:
            settings = self.defaults.merged(provider.settings).merged(route.settings)
            self._settings[key] = settings
        return settings
