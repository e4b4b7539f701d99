"""Which paths continue a final assistant message: known by kind and host, learned from answers.

`prefill: auto` (the default) tries a continuation where one may work: Anthropic paths
(a final assistant message is continued), DeepSeek (`prefix: true`, on its /beta base URL) and
other OpenAI-compatible servers with vLLM's `continue_final_message` (llama.cpp's server takes
it too, and continues a final assistant message by default). Hosts known to refuse are not
asked. A path that answers with the provider's 4xx about the final assistant message is
remembered as not continuing (per path, that is provider and model, in bounded memory), and
the refusal never reaches the client. An explicit `prefill:` always wins.

What is learned is noted in the state store too, so every worker on one state file and every
replica on one Redis knows it: each process reads a path's note before continuing on it, at
most every `CACHE_S` seconds, and writes one only when its verdict changes.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable

from turnout.config.model import ProviderConfig
from turnout.diagnosis.origin import provider_from_url
from turnout.errors import UpstreamError, UpstreamHTTPError
from turnout.providers.registry import KINDS
from turnout.state import StateStore

#: Provider families (by host) and their style under `auto`; other hosts are tried as vLLM.
HOST_STYLES = {
    "deepseek": "deepseek",
    "openai": "none",
    "azure": "none",
    "gemini": "none",
    "vertex": "none",
    "bedrock": "none",
}
#: What providers say when they refuse a final assistant message (lower case): Anthropic's
#: newer models, llama.cpp, vLLM, and OpenAI-style servers that do not know the fields.
REFUSAL = re.compile(
    r"prefill|continue_final_message|add_generation_prompt|final assistant|"
    r"must end with a user message|last message must|\bprefix\b"
)
#: Refusals that concern thinking on this request, not the path: skipped, not remembered.
_THIS_REQUEST_ONLY = re.compile(r"thinking|reasoning")
#: Statuses a refusal of the request (not of the path's health) comes with.
_REFUSAL_STATUSES = frozenset({400, 422})
PATHS = 1024
#: The state store's topic of these notes, and the note of a path that refused.
TOPIC = "prefill"
REFUSED = "none"
#: Seconds a path's note is trusted before it is read again from the store.
CACHE_S = 5.0


def auto_style(provider: ProviderConfig) -> str:
    row = KINDS.get(provider.kind)  # a kind may say; OpenAI-compatible paths are read by host
    if row is not None and row.prefill is not None:
        return row.prefill
    family = provider_from_url(provider.base_url) if provider.base_url else None
    return HOST_STYLES.get(family or "", "vllm")


def thinking_on(data: dict[str, object]) -> bool:
    thinking = data.get("thinking")
    enabled = isinstance(thinking, dict) and thinking.get("type") not in (None, "disabled")
    return enabled or data.get("reasoning_effort") not in (None, "none")


class PrefillStyles:
    """How each path continues an answer: its setting, else what was learned, else a guess.
    What was learned of a path is its verdict: REFUSED, or the style it continued with."""

    def __init__(
        self,
        state: StateStore | None = None,
        paths: int = PATHS,
        cache_s: float = CACHE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._state = state
        self._verdicts: OrderedDict[str, tuple[str | None, float]] = OrderedDict()
        self._limit = paths
        self._cache_s = cache_s
        self._clock = clock
        self._writes: set[asyncio.Task[None]] = set()

    async def refresh(self, paths: Iterable[str]) -> None:
        """Read the notes of `paths` not read (or written) in the last `cache_s` seconds."""
        if self._state is None:
            return
        now = self._clock()
        stale = [
            p for p in dict.fromkeys(paths)
            if (known := self._verdicts.get(p)) is None or now - known[1] >= self._cache_s
        ]  # fmt: skip
        if not stale:
            return
        for path, verdict in zip(stale, await self._state.recall(TOPIC, stale), strict=True):
            self._keep(path, verdict, now)

    def _keep(self, path: str, verdict: str | None, now: float) -> None:
        self._verdicts[path] = (verdict, now)
        self._verdicts.move_to_end(path)
        if len(self._verdicts) > self._limit:
            self._verdicts.popitem(last=False)

    def _verdict(self, path: str) -> str | None:
        known = self._verdicts.get(path)
        return None if known is None else known[0]

    def style(self, provider: ProviderConfig, path: str, data: dict[str, object]) -> str:
        """The style to continue `data` on `path` with, or "none"."""
        declared = provider.prefill not in (None, "auto")
        style = str(provider.prefill) if declared else auto_style(provider)
        if not declared and self._verdict(path) == REFUSED:
            return "none"
        if style == "anthropic" and thinking_on(data):
            return "none"  # Anthropic refuses a prefill when extended thinking is on
        return style

    def declines(self, provider: ProviderConfig, path: str, exc: UpstreamError) -> bool:
        """Whether a failed continuation is the path declining it (skip the path, quietly);
        a refusal of the final assistant message is remembered unless declared."""
        if not isinstance(exc, UpstreamHTTPError) or exc.status not in _REFUSAL_STATUSES:
            return False
        text = exc.body.lower()
        remember = REFUSAL.search(text) is not None and not _THIS_REQUEST_ONLY.search(text)
        if remember:
            self.refuse(provider, path)
        return True  # the same request worked without the prefill: the prefill is the cause

    def refuse(self, provider: ProviderConfig, path: str) -> None:
        """Remember that `path` does not continue (unless its setting says it does)."""
        if provider.prefill in (None, "auto"):
            self._note(path, REFUSED)

    def accepted(self, provider: ProviderConfig, path: str) -> None:
        """`path` continued an answer: whatever was remembered against it no longer holds."""
        declared = provider.prefill not in (None, "auto")
        self._note(path, str(provider.prefill) if declared else auto_style(provider))

    def continues(self, path: str) -> bool:
        return self._verdict(path) != REFUSED

    def _note(self, path: str, verdict: str) -> None:
        """Keep `verdict` here, and in the store when it is news to this process."""
        changed = self._verdict(path) != verdict
        self._keep(path, verdict, self._clock())
        if changed and self._state is not None:
            task = asyncio.get_running_loop().create_task(
                self._state.remember(TOPIC, path, verdict)
            )
            self._writes.add(task)
            task.add_done_callback(self._writes.discard)

    async def settled(self) -> None:
        """Wait for the notes written so far to reach the store."""
        while self._writes:
            await asyncio.gather(*list(self._writes))
