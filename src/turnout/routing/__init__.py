"""Routing: pick the route for a model, walk its chain, remember which paths are gated, and
continue a broken stream on the next path."""
