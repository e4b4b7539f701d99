"""Google's Gemini API as `generativelanguage.googleapis.com` speaks it: `POST /v1beta/models/
{model}:generateContent` and `:streamGenerateContent?alt=sse`, the key in `x-goog-api-key`.

The fake checks what it is sent the way the API does, with the API's own error shapes: an
unknown top-level field (a `model` in the body, say), a part with no data, a function call
outside a model turn, a model turn's first call without its thought signature (Gemini 3), a
function response turn that does not answer every call, a missing key. It also refuses a key
in the URL's query: the gateway must never put one there.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from tests.fakes.sse import frame, words
from tests.fakes.steps import Reply

#: Base64, as Google's are (the SDKs decode them to bytes).
SIGNATURE = "ZmFrZS1nZW1pbmktdGhvdWdodC1zaWduYXR1cmUtMDE="
KNOWN_FIELDS = frozenset(
    {
        "contents", "systemInstruction", "system_instruction", "tools", "toolConfig",
        "tool_config", "generationConfig", "generation_config", "safetySettings",
        "safety_settings", "cachedContent", "cached_content", "labels",
    }
)  # fmt: skip
DATA_FIELDS = (
    "text", "inlineData", "inline_data", "functionCall", "function_call", "functionResponse",
    "function_response", "fileData", "file_data", "executableCode", "codeExecutionResult",
)  # fmt: skip


def google_error(code: int, status: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "status": status}}


def _invalid(message: str) -> tuple[int, dict[str, Any]]:
    return 400, google_error(400, "INVALID_ARGUMENT", message)


def refusal(
    headers: Mapping[str, str], query: Mapping[str, str], method: str, body: Any
) -> tuple[int, dict[str, Any]] | None:
    """The API's answer to a request it would refuse, or None for one it serves."""
    if "key" in query:
        return _invalid("the fake refuses ?key=: a gateway must send x-goog-api-key")
    if not headers.get("x-goog-api-key"):
        return 403, google_error(
            403,
            "PERMISSION_DENIED",
            "Method doesn't allow unregistered callers (callers without established identity). "
            "Please use API Key or other form of API consumer identity to call this API.",
        )
    return body_refusal(query, method, body)


def body_refusal(
    query: Mapping[str, str], method: str, body: Any
) -> tuple[int, dict[str, Any]] | None:
    """What the API refuses of the call itself, whatever the credential (Vertex AI's
    generateContent takes the same body, with an OAuth token instead of a key)."""
    if method not in ("generateContent", "streamGenerateContent"):
        return 404, google_error(404, "NOT_FOUND", f"Method {method!r} not found.")
    if method == "streamGenerateContent" and query.get("alt") != "sse":
        return _invalid("the fake streams server-sent events only: ask with ?alt=sse")
    if not isinstance(body, dict):
        return _invalid("Invalid JSON payload received.")
    for name in body:
        if name not in KNOWN_FIELDS:
            return _invalid(
                f'Invalid JSON payload received. Unknown name "{name}": Cannot find field.'
            )
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        return _invalid("* GenerateContentRequest.contents: contents is not specified")
    calls_waiting = 0
    for index, content in enumerate(contents):
        problem = _content_problem(index, content, calls_waiting)
        if problem:
            return _invalid(problem)
        parts = content["parts"]
        if content.get("role") == "model":
            calls_waiting = sum(1 for p in parts if "functionCall" in p)
        else:
            calls_waiting = 0
    return None


def _content_problem(index: int, content: Any, calls_waiting: int) -> str | None:
    if not isinstance(content, dict) or content.get("role") not in ("user", "model"):
        return f"Please use a valid role: user, model. (contents[{index}])"
    parts = content.get("parts")
    if not isinstance(parts, list) or not parts:
        return (
            f"* GenerateContentRequest.contents[{index}].parts: contents.parts must not be empty."
        )
    for part in parts:
        if not isinstance(part, dict) or not any(f in part for f in DATA_FIELDS):
            return f"* GenerateContentRequest.contents[{index}].parts: required oneof field 'data' must have one initialized field"
    calls = [p for p in parts if "functionCall" in p]
    if calls and content["role"] != "model":
        return f"contents[{index}]: a function call can only come from the model."
    if calls and "thoughtSignature" not in calls[0]:
        name = calls[0]["functionCall"].get("name", "")
        return (
            f"Function call `{name}` in the {index + 1}. content block is missing a "
            "`thought_signature`. Learn more: https://ai.google.dev/gemini-api/docs/thought-signatures"
        )
    answers = [p for p in parts if "functionResponse" in p]
    if any(not a["functionResponse"].get("name") for a in answers):
        return f"* GenerateContentRequest.contents[{index}].parts: function_response.name: Name cannot be empty."
    if calls_waiting and content["role"] == "user" and len(answers) != calls_waiting:
        return (
            "Please ensure that the number of function response parts is equal to the number "
            "of function call parts of the function call turn."
        )
    return None


def _parts(reply: Reply) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    if reply.reasoning is not None:
        parts.append({"text": reply.reasoning, "thought": True})
    if reply.content:
        parts.append({"text": reply.content})
    if call := reply.tool_call:
        function: dict[str, Any] = {"name": call.name, "args": call.arguments}
        if call.id:
            function["id"] = call.id
        parts.append({"functionCall": function, "thoughtSignature": SIGNATURE})
    elif parts:
        parts[-1]["thoughtSignature"] = SIGNATURE
    return parts


def _usage(reply: Reply, output: int | None = None) -> dict[str, int]:
    prompt, candidates = reply.usage
    candidates = candidates if output is None else output
    return {
        "promptTokenCount": prompt,
        "candidatesTokenCount": candidates,
        "totalTokenCount": prompt + candidates,
    }


def _envelope(reply: Reply, request: Mapping[str, Any], response_id: str) -> dict[str, Any]:
    """`model` is the one the URL named (the fake puts it in the request it hands on)."""
    model = reply.model or str(request.get("model") or "fake-model")
    return {"modelVersion": model, "responseId": response_id}


def _candidate(parts: list[dict[str, Any]], finish: str | None = None) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    return candidate


def body(reply: Reply, request: Mapping[str, Any]) -> dict[str, Any]:
    """The non-streaming GenerateContentResponse."""
    response_id = uuid.uuid4().hex[:22]
    return {
        "candidates": [_candidate(_parts(reply), "STOP")],
        "usageMetadata": _usage(reply),
        **_envelope(reply, request, response_id),
    }


def events(reply: Reply, request: Mapping[str, Any]) -> list[bytes]:
    """The alt=sse stream: the thought, the text a few words at a time, the call whole, and the
    finish reason with the usage on the last event (CRLF line ends, as Google sends)."""
    response_id = uuid.uuid4().hex[:22]
    envelope = _envelope(reply, request, response_id)
    chunks: list[list[dict[str, Any]]] = []
    parts = _parts(reply)
    for part in parts:
        if part.get("text"):
            pieces = words(part["text"])
            chunks += [[{k: v for k, v in part.items() if k != "thoughtSignature"} | {"text": p}]
                       for p in pieces]  # fmt: skip
            if "thoughtSignature" in part:
                chunks.append([{"text": "", "thoughtSignature": part["thoughtSignature"]}])
        else:
            chunks.append([part])
    frames = []
    for index, chunk in enumerate(chunks):
        last = index == len(chunks) - 1
        data = {
            "candidates": [_candidate(chunk, "STOP" if last else None)],
            "usageMetadata": _usage(reply, None if last else index + 1),
            **envelope,
        }
        frames.append(frame(data).replace(b"\n", b"\r\n"))
    return frames


def error_event(code: str, message: str, _sequence: int) -> bytes:
    status = "RESOURCE_EXHAUSTED" if "quota" in code or "rate" in code else "INTERNAL"
    number = 429 if status == "RESOURCE_EXHAUSTED" else 500
    return frame(google_error(number, status, message)).replace(b"\n", b"\r\n")
