"""The runtime: composes config, providers, routing, access, telemetry and the edge into a
running gateway, reloads it, runs it under uvicorn and keeps its background loops."""
