"""Each client dialect's own SDK reading one streamed answer from a gateway (OpenAI Chat and
Responses, Anthropic Messages, Gemini), checking the events against the dialect's protocol as it
reads them, and what the answer came to: its text, the error it ended with, the path that
served it. Shared by the fault matrix and scripts/bench_faults.py."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anthropic
import openai
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as genai_types


@dataclass
class Answer:
    """What the client's SDK made of one streamed answer."""

    text: str
    error: str | None = None  # the error the stream ended with; None: it ended whole
    path: str = ""  # the path the gateway said serves it (x-turnout-path)


@dataclass(frozen=True)
class Dialect:
    """A client dialect: the kind of path that speaks it upstream, the events that path
    sends before its first word, and how its SDK streams an answer (checking the events
    against the protocol as it reads them)."""

    name: str
    kind: str  # the same-wire upstream: the answer is relayed byte for byte
    handshake: int  # upstream events before the first word
    continuing: str  # a kind of the same answer's path that continues a prefill itself
    stream: Callable[[str, str, str], Answer]  # (gateway url, model, prompt) -> answer

    def __str__(self) -> str:
        return self.name


def _chat(url: str, model: str, prompt: str) -> Answer:
    with openai.OpenAI(base_url=url + "/v1", api_key="x", max_retries=0, timeout=60) as client:
        raw = client.chat.completions.with_raw_response.create(
            model=model, messages=[{"role": "user", "content": prompt}], stream=True
        )
        chunks: list[Any] = []
        error = None
        try:
            chunks.extend(raw.parse())
        except openai.APIError as exc:
            error = str(exc)
    assert len({c.id for c in chunks}) == 1, "one completion, one id"
    finishes = [(i, ch.finish_reason) for i, c in enumerate(chunks) for ch in c.choices]
    stops = [(i, reason) for i, reason in finishes if reason is not None]
    last_choice = max(i for i, _ in finishes)
    if error is None:
        assert stops == [(last_choice, "stop")], "whole: one finish, on the last choice chunk"
    else:
        assert stops == [], "an answer that failed never said it finished"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return Answer(text, error, raw.headers.get("x-turnout-path", ""))


def _messages(url: str, model: str, prompt: str) -> Answer:
    with anthropic.Anthropic(base_url=url, api_key="x", max_retries=0, timeout=60) as client:
        raw = client.messages.with_raw_response.create(
            model=model, max_tokens=100, messages=[{"role": "user", "content": prompt}],
            stream=True,
        )  # fmt: skip
        events: list[Any] = []
        error = None
        try:
            events.extend(raw.parse())
        except anthropic.APIError as exc:
            error = str(exc)
    kinds = [e.type for e in events]
    assert kinds[0] == "message_start"
    assert kinds.count("message_start") == 1
    open_block: int | None = None
    started = 0
    text = ""
    for event in events[1:]:
        if event.type == "content_block_start":
            assert open_block is None, "one block at a time"
            assert event.index == started, "blocks open in order"
            open_block, started = event.index, started + 1
        elif event.type == "content_block_delta":
            assert event.index == open_block, "a delta goes to the open block"
            text += getattr(event.delta, "text", "")
        elif event.type == "content_block_stop":
            assert event.index == open_block
            open_block = None
        elif event.type in ("message_delta", "message_stop"):
            assert open_block is None, "the message ends after its blocks"
    if error is None:
        assert kinds[-2:] == ["message_delta", "message_stop"]
        assert events[-2].delta.stop_reason == "end_turn"
    else:
        assert "message_stop" not in kinds
    return Answer(text, error, raw.headers.get("x-turnout-path", ""))


def _responses(url: str, model: str, prompt: str) -> Answer:
    with openai.OpenAI(base_url=url + "/v1", api_key="x", max_retries=0, timeout=60) as client:
        raw = client.responses.with_raw_response.create(model=model, input=prompt, stream=True)
        events: list[Any] = list(raw.parse())
    kinds = [e.type for e in events]
    assert [e.sequence_number for e in events] == list(range(len(events))), "one numbering"
    assert kinds[0] == "response.created"
    created = events[0].response.id
    deltas = [e for e in events if e.type == "response.output_text.delta"]
    assert len({(d.item_id, d.output_index, d.content_index) for d in deltas}) <= 1
    text = "".join(d.delta for d in deltas)
    error = None
    if kinds[-1] == "response.completed":
        assert events[-1].response.id == created
        assert events[-1].response.output_text == text
        assert "error" not in kinds
    else:
        assert kinds[-2:] == ["error", "response.failed"], "a failure is told, not a cut"
        assert events[-1].response.id == created, "the response that failed is the one created"
        error = events[-2].message
    return Answer(text, error, raw.headers.get("x-turnout-path", ""))


def _gemini(url: str, model: str, prompt: str) -> Answer:
    options = genai_types.HttpOptions(
        base_url=url, timeout=60_000, retry_options=genai_types.HttpRetryOptions(attempts=1)
    )
    chunks: list[genai_types.GenerateContentResponse] = []
    error = None
    with genai.Client(api_key="x", http_options=options) as client:
        try:
            chunks.extend(client.models.generate_content_stream(model=model, contents=prompt))
        except genai_errors.APIError as exc:
            error = str(exc)
    assert len({c.response_id for c in chunks}) == 1, "one response, one id"
    reasons = [c.candidates[0].finish_reason for c in chunks if c.candidates]
    if error is None:
        assert reasons[-1] == genai_types.FinishReason.STOP
        assert all(reason is None for reason in reasons[:-1])
    else:
        assert all(reason is None for reason in reasons)
    text = "".join(
        part.text or ""
        for c in chunks
        for part in (
            c.candidates[0].content.parts or [] if c.candidates and c.candidates[0].content else []
        )
    )
    path = ""
    if chunks and chunks[0].sdk_http_response and chunks[0].sdk_http_response.headers:
        path = chunks[0].sdk_http_response.headers.get("x-turnout-path", "")
    return Answer(text, error, path)


CHAT = Dialect("chat", "openai", 1, "openai", _chat)
MESSAGES = Dialect("messages", "anthropic", 3, "anthropic", _messages)
RESPONSES = Dialect("responses", "responses", 4, "openai", _responses)
GEMINI = Dialect("gemini", "gemini", 0, "anthropic", _gemini)
DIALECTS = [CHAT, MESSAGES, RESPONSES, GEMINI]
