"""Gateway configuration: the YAML shape, its loading and the embedded default."""

from turnout.config.load import ConfigError, load_config, load_config_text
from turnout.config.model import GatewayConfig, ProviderConfig, RouteConfig, Settings, Target

__all__ = [
    "ConfigError",
    "GatewayConfig",
    "ProviderConfig",
    "RouteConfig",
    "Settings",
    "Target",
    "load_config",
    "load_config_text",
]
