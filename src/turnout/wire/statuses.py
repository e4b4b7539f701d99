"""The status a client sees for a failure of each category, after every path was tried.

Chosen by what real clients do with a status, measured, not by what it names. The OpenAI and
Anthropic SDKs and OpenCode's AI SDK retry 408, 409, 429 and 5xx (the SDKs unless
`x-should-retry: false`); Hermes Agent reads 429 as "rate limited" and retries, and retries a
402 whose text speaks of trying again; Claude Code retries a 400 from a gateway five more times
but stops at a 402. So a category that no wait can cure never gets a status its client
retries: a spent quota is a 400 (what Anthropic itself answers for "out of extra usage"), a
402 for Claude Code. The retryable categories keep statuses that invite a retry, with
`retry-after` when it is known.
"""

from __future__ import annotations

CLIENT_STATUS: dict[str, int] = {
    "auth": 401,
    "permission": 403,
    "quota": 400,
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

#: Clients that read a status otherwise, known by how their user-agent starts.
CLIENT_OVERRIDES: tuple[tuple[str, dict[str, int]], ...] = (
    ("claude-cli/", {"quota": 402}),  # Claude Code
)


def client_status(category: str, user_agent: str = "") -> int:
    """The status for a failure of `category` told to the client whose user-agent this is."""
    for prefix, statuses in CLIENT_OVERRIDES:
        if user_agent.startswith(prefix) and category in statuses:
            return statuses[category]
    return CLIENT_STATUS[category]


def is_final(status: int) -> bool:
    """Whether clients read `status` as "do not retry" (a 4xx other than 408, 409 and 429)."""
    return 400 <= status < 500 and status not in (408, 409, 429)
