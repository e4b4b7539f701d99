"""The HTTP front: a plain ASGI application serving both dialects."""
