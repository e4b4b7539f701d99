"""The status a client sees for a failure of each category, after every path was tried.

Chosen so clients behave: 429 and 5xx invite SDK retries only where `x-should-retry` allows,
a misconfigured upstream is the gateway's 502, not the client's 404.
"""

from __future__ import annotations

CLIENT_STATUS: dict[str, int] = {
    "auth": 401,
    "permission": 403,
    "quota": 429,
    "rate_limit": 429,
    "overloaded": 503,
    "server_error": 502,
    "timeout": 504,
    "connection": 502,
    "endpoint_not_found": 502,
    "model_not_found": 404,
    "context_length": 400,
    "payload_too_large": 413,
    "invalid_request": 400,
    "content_policy": 400,
    "unknown": 502,
}
