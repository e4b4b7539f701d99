"""Routing: pick the route for a model, walk its chain, remember which paths are gated, and
say how a broken stream may be continued (the edge streams the continuation)."""
