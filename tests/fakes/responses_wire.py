"""The OpenAI Responses dialect: a whole `response` object or its typed event stream.

Written from the API reference's event sequence: `response.created`, `response.in_progress`,
then per output item `output_item.added`, its part or summary events and deltas, the `.done`
events, `output_item.done`, and last `response.completed` with usage. Every event has a
`sequence_number`; there is no `[DONE]`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import Any

import orjson

from tests.fakes.sse import fragments, frame, words
from tests.fakes.steps import Reply

ENCRYPTED = "gAAAAB-fake-encrypted-reasoning"


def _id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def _usage(reply: Reply) -> dict[str, Any]:
    prompt, completion = reply.usage
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": prompt + completion,
    }


def _items(reply: Reply) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    if reply.reasoning is not None:
        # No summary asked for (`reasoning=""`): the item carries only its encrypted content.
        summary = [{"type": "summary_text", "text": reply.reasoning}] if reply.reasoning else []
        items.append(
            {
                "id": _id("rs"),
                "type": "reasoning",
                "summary": summary,
                "encrypted_content": ENCRYPTED,
            }
        )
    if reply.content:
        text = {"type": "output_text", "text": reply.content, "annotations": [], "logprobs": []}
        items.append(
            {
                "id": _id("msg"),
                "type": "message",
                "status": "completed",
                "role": "assistant",
                "content": [text],
            }
        )
    if call := reply.tool_call:
        items.append(
            {
                "id": _id("fc"),
                "type": "function_call",
                "status": "completed",
                "call_id": call.id or _id("call"),
                "name": call.name,
                "arguments": orjson.dumps(call.arguments).decode(),
            }
        )
    return items


def _response(
    reply: Reply, request: Mapping[str, Any], status: str, output: list[Any]
) -> dict[str, Any]:
    return {
        "id": _id("resp"),
        "object": "response",
        "created_at": int(time.time()),
        "status": status,
        "error": None,
        "incomplete_details": None,
        "model": reply.model or str(request.get("model") or "fake-model"),
        "output": output,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": _usage(reply) if status == "completed" else None,
    }


def body(reply: Reply, request: Mapping[str, Any]) -> dict[str, Any]:
    return _response(reply, request, "completed", _items(reply))


class _Events:
    def __init__(self) -> None:
        self.frames: list[bytes] = []

    def add(self, kind: str, **fields: Any) -> None:
        payload = {"type": kind, "sequence_number": len(self.frames), **fields}
        self.frames.append(frame(payload, kind))


def _item_events(out: _Events, index: int, item: dict[str, Any]) -> None:
    kind = item["type"]
    where = {"item_id": item["id"], "output_index": index}
    if kind == "reasoning" and not item["summary"]:
        out.add("response.output_item.added", output_index=index, item=item)
    elif kind == "reasoning":
        out.add("response.output_item.added", output_index=index, item={**item, "summary": []})
        text = item["summary"][0]["text"]
        part = {"type": "summary_text", "text": ""}
        out.add("response.reasoning_summary_part.added", **where, summary_index=0, part=part)
        for piece in words(text):
            out.add("response.reasoning_summary_text.delta", **where, summary_index=0, delta=piece)
        out.add("response.reasoning_summary_text.done", **where, summary_index=0, text=text)
        done = {"type": "summary_text", "text": text}
        out.add("response.reasoning_summary_part.done", **where, summary_index=0, part=done)
    elif kind == "message":
        added = {**item, "status": "in_progress", "content": []}
        out.add("response.output_item.added", output_index=index, item=added)
        part = item["content"][0]
        empty = {**part, "text": ""}
        out.add("response.content_part.added", **where, content_index=0, part=empty)
        for piece in words(part["text"]):
            out.add(
                "response.output_text.delta", **where, content_index=0, delta=piece, logprobs=[]
            )
        text = part["text"]
        out.add("response.output_text.done", **where, content_index=0, text=text, logprobs=[])
        out.add("response.content_part.done", **where, content_index=0, part=part)
    else:
        added = {**item, "status": "in_progress", "arguments": ""}
        out.add("response.output_item.added", output_index=index, item=added)
        for piece in fragments(item["arguments"]):
            out.add("response.function_call_arguments.delta", **where, delta=piece)
        out.add("response.function_call_arguments.done", **where, arguments=item["arguments"])
    out.add("response.output_item.done", output_index=index, item=item)


def handshake(reply: Reply, request: Mapping[str, Any]) -> list[bytes]:
    out = _Events()
    started = _response(reply, request, "in_progress", [])
    out.add("response.created", response=started)
    out.add("response.in_progress", response=started)
    return out.frames


def events(reply: Reply, request: Mapping[str, Any]) -> list[bytes]:
    out = _Events()
    started = _response(reply, request, "in_progress", [])
    out.add("response.created", response=started)
    out.add("response.in_progress", response=started)
    items = _items(reply)
    for index, item in enumerate(items):
        _item_events(out, index, item)
    completed = {**body(reply, request), "id": started["id"], "output": items}
    out.add("response.completed", response=completed)
    return out.frames


def error_event(code: str, message: str, sequence_number: int) -> bytes:
    payload = {
        "type": "error",
        "code": code,
        "message": message,
        "param": None,
        "sequence_number": sequence_number,
    }
    return frame(payload, "error")
