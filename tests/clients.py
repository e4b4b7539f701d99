"""SDK clients for tests, closed when the test ends (their connection pools hold sockets)."""

from __future__ import annotations

import anthropic
import openai


class Clients:
    """SDK clients for a test, all closed when it ends (their pools hold sockets)."""

    def __init__(self) -> None:
        self._open: list[openai.OpenAI | anthropic.Anthropic] = []

    def openai(self, url: str, key: str = "anything") -> openai.OpenAI:
        client = openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0, timeout=10)
        self._open.append(client)
        return client

    def anthropic(self, url: str, key: str = "anything") -> anthropic.Anthropic:
        client = anthropic.Anthropic(base_url=url, api_key=key, max_retries=0, timeout=10)
        self._open.append(client)
        return client

    def close(self) -> None:
        for client in self._open:
            client.close()
