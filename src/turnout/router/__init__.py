"""Routing: pick the route for a model, walk its chain, remember which paths are gated."""
