"""Request bodies between the Anthropic Messages and OpenAI Chat Completions dialects.

Each top-level field has a handler in a table; a field without one is dropped and named in
`Translated.dropped`, so nothing the target cannot honour changes meaning silently.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from turnout.translate._params import (
    anthropic_thinking,
    anthropic_tool_choice,
    anthropic_tools,
    openai_reasoning_effort,
    openai_tool_choice,
    openai_tools,
)
from turnout.translate._shared import as_dict, as_text
from turnout.translate._to_anthropic import anthropic_messages
from turnout.translate._to_openai import openai_messages


@dataclass(frozen=True)
class Translated:
    body: dict[str, Any]  # the request in the target dialect, `model` set to the target model
    dropped: tuple[str, ...]  # what the target cannot honour, in first-seen order, once each


Handler = Callable[[Any, dict[str, Any], list[str]], None]


def anthropic_to_openai_request(data: dict[str, Any], model: str) -> Translated:
    dropped: list[str] = []
    body: dict[str, Any] = {"model": model, "messages": openai_messages(data, dropped)}
    _apply(data, body, dropped, _TO_OPENAI, consumed=("model", "messages", "system"))
    if "reasoning_effort" in body and "max_tokens" in body:
        # Reasoning models take only max_completion_tokens, which counts reasoning too.
        body["max_completion_tokens"] = body.pop("max_tokens")
    if body.get("stream") is True:
        body["stream_options"] = {"include_usage": True}  # else OpenAI streams carry no usage
    return Translated(body, _once(dropped))


def openai_to_anthropic_request(
    data: dict[str, Any], model: str, default_max_tokens: int = 8192
) -> Translated:
    """Raises ValueError for `n` > 1: Anthropic answers once per request."""
    n = data.get("n")
    if isinstance(n, int) and n > 1:
        raise ValueError(f"n={n} asks for {n} choices; Anthropic models return one per request")
    dropped: list[str] = []
    system, messages = anthropic_messages(list(data.get("messages") or []), dropped)
    body: dict[str, Any] = {"model": model, "messages": messages}
    if system:
        body["system"] = "\n\n".join(system)
    explicit = data.get("max_completion_tokens") or data.get("max_tokens")
    body["max_tokens"] = explicit if isinstance(explicit, int) else default_max_tokens
    _apply(data, body, dropped, _TO_ANTHROPIC, consumed=_ANTHROPIC_CONSUMED)
    _set_parallel(data, body)
    effort = data.get("reasoning_effort")
    if effort is not None:
        anthropic_thinking(as_text(effort), body, explicit_max=isinstance(explicit, int))
        if "thinking" not in body and effort != "none":
            dropped.append("reasoning_effort")
    return Translated(body, _once(dropped))


def _apply(
    data: dict[str, Any],
    body: dict[str, Any],
    dropped: list[str],
    handlers: dict[str, Handler],
    consumed: tuple[str, ...],
) -> None:
    for key, value in data.items():
        if value is None or key in consumed:
            continue  # clients send explicit nulls for "not set"
        handler = handlers.get(key)
        if handler is not None:
            handler(value, body, dropped)
        elif _HARMLESS.get(key, _MISSING) != value:
            dropped.append(key)


def _copy(target: str) -> Handler:
    def handle(value: Any, body: dict[str, Any], dropped: list[str]) -> None:
        body[target] = value

    return handle


def _stop_sequences(value: Any, body: dict[str, Any], dropped: list[str]) -> None:
    if value:
        body["stop"] = list(value)


def _stop(value: Any, body: dict[str, Any], dropped: list[str]) -> None:
    sequences = [value] if isinstance(value, str) else list(value)
    if sequences:
        body["stop_sequences"] = sequences


def _metadata(value: Any, body: dict[str, Any], dropped: list[str]) -> None:
    for key, item in as_dict(value).items():
        if key == "user_id" and isinstance(item, str):
            body["user"] = item
        elif item is not None:
            dropped.append(f"metadata.{key}")


def _user(value: Any, body: dict[str, Any], dropped: list[str]) -> None:
    body["metadata"] = {"user_id": value}


def _tools_to_openai(value: Any, body: dict[str, Any], dropped: list[str]) -> None:
    tools = openai_tools(value, dropped)
    if tools:
        body["tools"] = tools


def _tools_to_anthropic(value: Any, body: dict[str, Any], dropped: list[str]) -> None:
    tools = anthropic_tools(value, dropped)
    if tools:
        body["tools"] = tools


def _tool_choice_to_openai(value: Any, body: dict[str, Any], dropped: list[str]) -> None:
    choice, parallel = openai_tool_choice(value, dropped)
    if choice is not None:
        body["tool_choice"] = choice
    if parallel is False:
        body["parallel_tool_calls"] = False


def _tool_choice_to_anthropic(value: Any, body: dict[str, Any], dropped: list[str]) -> None:
    choice = anthropic_tool_choice(value, dropped)
    if choice is not None:
        body["tool_choice"] = choice


def _thinking(value: Any, body: dict[str, Any], dropped: list[str]) -> None:
    effort = openai_reasoning_effort(as_dict(value))
    if effort is not None:
        body["reasoning_effort"] = effort


def _set_parallel(data: dict[str, Any], body: dict[str, Any]) -> None:
    """OpenAI `parallel_tool_calls: false` lives on Anthropic's tool_choice."""
    if data.get("parallel_tool_calls") is not False or "tools" not in body:
        return
    choice = body.setdefault("tool_choice", {"type": "auto"})
    if choice.get("type") != "none":
        choice["disable_parallel_tool_use"] = True


_TO_OPENAI: dict[str, Handler] = {
    "max_tokens": _copy("max_tokens"),
    "temperature": _copy("temperature"),
    "top_p": _copy("top_p"),
    "stream": _copy("stream"),
    "stop_sequences": _stop_sequences,
    "metadata": _metadata,
    "tools": _tools_to_openai,
    "tool_choice": _tool_choice_to_openai,
    "thinking": _thinking,
}

_TO_ANTHROPIC: dict[str, Handler] = {
    "temperature": _copy("temperature"),
    "top_p": _copy("top_p"),
    "stream": _copy("stream"),
    "stop": _stop,
    "user": _user,
    "tools": _tools_to_anthropic,
    "tool_choice": _tool_choice_to_anthropic,
}

_ANTHROPIC_CONSUMED = (
    "model",
    "messages",
    "max_tokens",
    "max_completion_tokens",
    "reasoning_effort",
    "parallel_tool_calls",
    "stream_options",  # Anthropic streams always carry usage
    "n",
)

_MISSING = object()
# Values that ask for nothing beyond the default: dropping them changes nothing worth noting.
_HARMLESS: dict[str, object] = {
    "n": 1,
    "logprobs": False,
    "presence_penalty": 0,
    "frequency_penalty": 0,
    "response_format": {"type": "text"},
}


def _once(names: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(names))
