"""Gateway configuration: the YAML shape, its loading and the embedded default.

The loaders here take the provider kinds' table (`kinds=`); `turnout.runtime.configs` has them
with it filled in.
"""

from turnout.config.load import ConfigError
from turnout.config.model import GatewayConfig, ProviderConfig, RouteConfig, Settings, Target

__all__ = ["ConfigError", "GatewayConfig", "ProviderConfig", "RouteConfig", "Settings", "Target"]
