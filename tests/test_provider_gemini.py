"""The gemini kind against a fake Gemini API on 127.0.0.1 that checks what it is sent as Google
does: OpenAI Chat and Anthropic Messages clients served by a Gemini path, tools and their results
intact across turns, streamed and not; Gemini's errors diagnosed and failed over."""

from __future__ import annotations

import json
from contextlib import AbstractContextManager
from typing import Any

import pytest

from tests.clients import Clients
from tests.fakes import Fail, Reply, RunningUpstream, ToolCall
from tests.fakes.gemini_wire import SIGNATURE
from tests.gateway import PATH_KEY, RunningGateway, gateway_over
from turnout.config import ConfigError
from turnout.runtime.configs import load_config_text
from turnout.wire.gemini.requests import FOREIGN_CALL_SIGNATURE

MODEL = "gemini-2.5-flash"
TOOL_OPENAI: Any = {
    "type": "function",
    "function": {
        "name": "read_file",
        "description": "Read a file",
        "parameters": {"type": "object", "properties": {"path": {"type": "string"}}},
    },
}
TOOL_ANTHROPIC: Any = {
    "name": "read_file",
    "description": "Read a file",
    "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}},
}
QUOTA_PER_DAY = Fail(
    429,
    json.dumps(
        {
            "error": {
                "code": 429,
                "message": "You exceeded your current quota, please check your plan and billing "
                "details. For more information on this error, head to: "
                "https://ai.google.dev/gemini-api/docs/rate-limits.",
                "status": "RESOURCE_EXHAUSTED",
                "details": [
                    {
                        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                        "violations": [
                            {
                                "quotaMetric": "generativelanguage.googleapis.com/"
                                "generate_content_free_tier_requests",
                                "quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
                            }
                        ],
                    }
                ],
            }
        }
    ),
)


def gemini(*more: str) -> AbstractContextManager[tuple[RunningGateway, list[RunningUpstream]]]:
    """Route `m` over a Gemini path (sent MODEL), then a path of each further kind."""
    models = [MODEL, *(f"upstream-{kind}" for kind in more)]
    return gateway_over("gemini", *more, route="m", models=models, defaults={"retries": 0})


def test_a_chat_client_runs_a_tool_on_a_gemini_path_and_sends_its_result_back(
    clients: Clients,
) -> None:
    with gemini() as (gw, [up]):
        up.script(
            Reply(tool_call=ToolCall("read_file", {"path": "a.txt"})),
            Reply(text="The file says hello."),
        )
        client = clients.openai(gw.url)
        messages: list[Any] = [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "read a.txt"},
        ]
        first = client.chat.completions.create(model="m", messages=messages, tools=[TOOL_OPENAI])
        sent = up.requests[-1]
        assert sent.path == f"/v1beta/models/{MODEL}:generateContent"
        assert sent.headers["x-goog-api-key"] == PATH_KEY
        assert "authorization" not in sent.headers
        assert sent.json["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
        declared = sent.json["tools"][0]["functionDeclarations"][0]
        assert declared["parametersJsonSchema"] == TOOL_OPENAI["function"]["parameters"]
        choice = first.choices[0]
        assert choice.finish_reason == "tool_calls"
        [call] = choice.message.tool_calls or []
        assert call.function.name == "read_file"  # type: ignore[union-attr]
        assert json.loads(call.function.arguments) == {"path": "a.txt"}  # type: ignore[union-attr]
        messages += [
            choice.message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": "hello"},
        ]
        second = client.chat.completions.create(model="m", messages=messages, tools=[TOOL_OPENAI])
        assert second.choices[0].message.content == "The file says hello."
        contents = up.requests[-1].json["contents"]
        # The Chat client kept no signature: the call goes back with Google's foreign one.
        assert contents[1]["parts"][0]["thoughtSignature"] == FOREIGN_CALL_SIGNATURE
        assert contents[2]["parts"] == [
            {
                "functionResponse": {
                    "id": call.id,
                    "name": "read_file",
                    "response": {"output": "hello"},
                }
            }
        ]


def test_a_chat_client_streams_text_and_usage_from_a_gemini_path(clients: Clients) -> None:
    with gemini() as (gw, [up]):
        up.script(Reply(text="streamed from gemini", usage=(12, 5)))
        stream = clients.openai(gw.url).chat.completions.create(
            model="m",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        text, usage, finish = "", None, None
        for chunk in stream:
            if chunk.choices:
                text += chunk.choices[0].delta.content or ""
                finish = chunk.choices[0].finish_reason or finish
            usage = chunk.usage or usage
        assert text == "streamed from gemini"
        assert finish == "stop"
        assert usage is not None
        assert (usage.prompt_tokens, usage.completion_tokens) == (12, 5)
        assert up.requests[-1].path == f"/v1beta/models/{MODEL}:streamGenerateContent"


def test_an_anthropic_client_gets_a_tool_use_from_a_gemini_path_whole_and_streamed(
    clients: Clients,
) -> None:
    with gemini() as (gw, [up]):
        call = ToolCall("read_file", {"path": "b.txt"})
        up.script(Reply(text="Reading it.", tool_call=call))
        client = clients.anthropic(gw.url)
        ask: Any = {"role": "user", "content": "read b.txt"}
        message = client.messages.create(
            model="m", max_tokens=200, tools=[TOOL_ANTHROPIC], messages=[ask]
        )
        assert message.stop_reason == "tool_use"
        uses = [b for b in message.content if b.type == "tool_use"]
        assert [(u.name, u.input) for u in uses] == [("read_file", {"path": "b.txt"})]
        assert up.requests[-1].json["generationConfig"] == {"maxOutputTokens": 200}
        with client.messages.stream(
            model="m", max_tokens=200, tools=[TOOL_ANTHROPIC], messages=[ask]
        ) as stream:
            final = stream.get_final_message()
        assert final.stop_reason == "tool_use"
        texts = [b.text for b in final.content if b.type == "text"]
        assert texts == ["Reading it."]
        streamed = [(b.name, b.input) for b in final.content if b.type == "tool_use"]
        assert streamed == [("read_file", {"path": "b.txt"})]
        # The next turn: the tool's result goes back to Gemini answering the call by name.
        history: list[Any] = [
            ask,
            {"role": "assistant", "content": [u.model_dump() for u in uses]},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": uses[0].id, "content": "hi"}],
            },
        ]
        up.script(Reply(text="It says hi."))
        done = client.messages.create(
            model="m", max_tokens=200, tools=[TOOL_ANTHROPIC], messages=history
        )
        assert done.content[0].type == "text"
        assert done.content[0].text == "It says hi."
        answer = up.requests[-1].json["contents"][2]["parts"][0]["functionResponse"]
        assert (answer["id"], answer["name"]) == (uses[0].id, "read_file")


def test_the_streamed_call_keeps_gemini_words_and_a_daily_quota_fails_over_to_anthropic(
    clients: Clients,
) -> None:
    with gemini("anthropic") as (gw, [google, claude]):
        google.script(QUOTA_PER_DAY)
        claude.script(Reply(text="Claude answers"))
        raw = clients.openai(gw.url).chat.completions.with_raw_response.create(
            model="m", messages=[{"role": "user", "content": "hi"}]
        )
        assert raw.parse().choices[0].message.content == "Claude answers"
        assert raw.headers["x-turnout-attempts"] == "p0:quota -> p1:ok"
        clients.openai(gw.url).chat.completions.create(
            model="m", messages=[{"role": "user", "content": "again"}]
        )
        assert len(google.requests) == 1  # the daily quota is a gate, remembered


def test_a_gemini_refusal_reaches_the_client_in_its_own_dialect(clients: Clients) -> None:
    import anthropic

    with gemini() as (gw, [up]):
        up.script(
            Fail(
                400,
                '{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.",'
                '"status":"INVALID_ARGUMENT","details":[{"@type":'
                '"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID",'
                '"domain":"googleapis.com"}]}}',
            )
        )
        with pytest.raises(anthropic.AuthenticationError) as caught:
            clients.anthropic(gw.url).messages.create(
                model="m", max_tokens=5, messages=[{"role": "user", "content": "hi"}]
            )
        assert caught.value.response.json()["turnout"]["code"] == "invalid_api_key"


def test_the_fake_refuses_what_the_api_refuses() -> None:
    """The fake's checks are real: a body with a model, or a call without its signature."""
    from tests.fakes.gemini_wire import refusal

    headers: dict[str, str] = {"x-goog-api-key": "k"}
    query: dict[str, str] = {}
    contents: Any = [{"role": "user", "parts": [{"text": "hi"}]}]
    assert refusal(headers, query, "generateContent", {"contents": contents}) is None
    status, error = refusal(headers, query, "generateContent", {"model": "x", "contents": contents})  # type: ignore[misc]
    assert (status, error["error"]["status"]) == (400, "INVALID_ARGUMENT")
    unsigned: Any = [*contents, {"role": "model", "parts": [{"functionCall": {"name": "f"}}]}]
    assert refusal(headers, query, "generateContent", {"contents": unsigned}) is not None
    assert refusal({}, query, "generateContent", {"contents": contents})[0] == 403  # type: ignore[index]
    assert refusal(headers, {"key": "k"}, "generateContent", {"contents": contents}) is not None
    assert refusal(headers, query, "streamGenerateContent", {"contents": contents}) is not None
    assert SIGNATURE  # what the fake signs its calls with


@pytest.mark.parametrize(
    ("table", "says"),
    [
        ("{kind: gemini}", "has no api_key"),
        ("{kind: gemini, api_key: '${K}', api_version: v2}", "api_version"),
        (
            "{kind: gemini, api_key: '${K}', base_url: 'https://generativelanguage.googleapis.com/v1beta'}",
            "includes the API path",
        ),
        (
            "{kind: gemini, api_key: '${K}', "
            "base_url: 'https://generativelanguage.googleapis.com/v1beta/openai'}",
            "OpenAI-compatible",
        ),
        (
            "{kind: gemini, api_key: '${K}', base_url: 'https://generativelanguage.googleapis.com?key=AIza'}",
            "key in its query",
        ),
    ],
)
def test_gemini_options_are_checked_by_the_kind(table: str, says: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config_text(f"providers: {{a: {table}}}\nroutes: {{m: [a/x]}}", "<t>", {"K": "k"})
    assert says in str(raised.value)


def test_the_default_base_url_is_googles() -> None:
    config = load_config_text(
        'providers: {a: {kind: gemini, api_key: "${K}"}}\nroutes: {m: [a/x]}', "<t>", {"K": "k"}
    )
    assert config.providers["a"].base_url == "https://generativelanguage.googleapis.com"


def _google(code: int, status: str, message: str, *details: Any) -> str:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = list(details)
    return json.dumps({"error": error})


@pytest.mark.parametrize(
    ("status", "body", "category", "retry_after_s"),
    [
        (429, QUOTA_PER_DAY.body, "quota", None),
        (429, _google(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."),
         "rate_limit", None),
        (400, _google(400, "INVALID_ARGUMENT", "* GenerateContentRequest.contents: contents is not specified"),
         "invalid_request", None),
        (403, _google(403, "PERMISSION_DENIED", "You do not have permission to access this resource."),
         "permission", None),
        (503, _google(503, "UNAVAILABLE", "The model is overloaded. Please try again later."),
         "overloaded", None),
        (404, _google(404, "NOT_FOUND", "models/gemini-9 is not found for API version v1beta, or is "
                      "not supported for generateContent."), "model_not_found", None),
    ],
)  # fmt: skip
def test_geminis_error_shapes_are_read_by_the_rules(
    status: int, body: str | bytes, category: str, retry_after_s: float | None
) -> None:
    from turnout import diagnose

    text = body.decode() if isinstance(body, bytes) else body
    diagnosis = diagnose(status=status, body=text, provider="gemini")
    assert diagnosis.category.value == category
    if retry_after_s is not None:
        assert diagnosis.retry_after_s == retry_after_s
