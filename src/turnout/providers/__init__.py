"""Upstream providers: one module per wire format behind the small `Provider` protocol."""

from turnout.providers.base import Provider, UpstreamCall, UpstreamResponse
from turnout.providers.registry import build_provider

__all__ = ["Provider", "UpstreamCall", "UpstreamResponse", "build_provider"]
