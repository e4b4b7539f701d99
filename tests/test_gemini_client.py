"""Google's own Python SDK (google-genai) as the client: Gemini's wire at the edge, served by an
Anthropic path with tools, by a Gemini path byte for byte (thought signatures and all), and
moved to Anthropic when the Gemini path's daily quota is gone. The gateway key comes as the
SDK sends its API key (`x-goog-api-key`) or as `?key=`."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from google import genai
from google.genai import errors, types

from tests.fakes import Reply, RunningUpstream, ToolCall
from tests.fakes.gemini_wire import SIGNATURE
from tests.gateway import RunningGateway, gateway_over, request
from tests.test_provider_gemini import QUOTA_PER_DAY

GATEWAY_KEY = "tk-gemini-client-0123456789"
WEATHER = types.FunctionDeclaration(
    name="get_weather",
    description="Weather in a city",
    parameters_json_schema={
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
)


@contextmanager
def gateway(*kinds: str) -> Iterator[tuple[RunningGateway, list[RunningUpstream]]]:
    """Route `gemini-2.5-pro` over one path per kind, behind a gateway key."""
    models = [f"upstream-{kind}" for kind in kinds]
    with gateway_over(
        *kinds,
        route="gemini-2.5-pro",
        models=models,
        defaults={"retries": 0},
        extra={"server": {"keys": ["${GATEWAY_KEY}"]}},
        env={"GATEWAY_KEY": GATEWAY_KEY},
    ) as running:
        yield running


def client(gw: RunningGateway, key: str = GATEWAY_KEY) -> genai.Client:
    options = types.HttpOptions(
        base_url=gw.url, timeout=10_000, retry_options=types.HttpRetryOptions(attempts=1)
    )
    return genai.Client(api_key=key, http_options=options)


def test_a_gemini_client_gets_a_function_call_from_an_anthropic_path() -> None:
    with gateway("anthropic") as (gw, [claude]), client(gw) as gemini:
        claude.script(Reply(tool_call=ToolCall("get_weather", {"city": "Oslo"}, id="toolu_7")))
        config = types.GenerateContentConfig(
            system_instruction="Be brief.",
            tools=[types.Tool(function_declarations=[WEATHER])],
            max_output_tokens=300,
        )
        answer = gemini.models.generate_content(
            model="gemini-2.5-pro", contents="Weather in Oslo?", config=config
        )
        [call] = answer.function_calls or []
        assert (call.name, call.args, call.id) == ("get_weather", {"city": "Oslo"}, "toolu_7")
        sent = claude.requests[-1].json
        assert sent["system"] == "Be brief."
        assert sent["max_tokens"] == 300
        assert sent["tools"][0]["input_schema"]["required"] == ["city"]
        # The function's result goes back as the SDK writes it; Claude sees its call answered.
        claude.script(Reply(text="Rain in Oslo."))
        history = [
            types.Content(role="user", parts=[types.Part.from_text(text="Weather in Oslo?")]),
            answer.candidates[0].content,  # type: ignore[index]
            types.Content(
                role="user",
                parts=[
                    types.Part.from_function_response(
                        name="get_weather", response={"output": "rain"}
                    )
                ],
            ),
        ]
        done = gemini.models.generate_content(
            model="gemini-2.5-pro", contents=history, config=config
        )
        assert done.text == "Rain in Oslo."
        results = claude.requests[-1].json["messages"][2]["content"]
        assert results == [{"type": "tool_result", "tool_use_id": "toolu_7", "content": "rain"}]


def test_a_gemini_client_streams_from_an_anthropic_path() -> None:
    with gateway("anthropic") as (gw, [claude]), client(gw) as gemini:
        claude.script(Reply(text="streamed to the Gemini SDK", usage=(21, 6)))
        chunks = list(gemini.models.generate_content_stream(model="gemini-2.5-pro", contents="hi"))
        assert "".join(chunk.text or "" for chunk in chunks) == "streamed to the Gemini SDK"
        assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP  # type: ignore[index]
        usage = chunks[-1].usage_metadata
        assert usage is not None
        assert (usage.prompt_token_count, usage.candidates_token_count) == (21, 6)


def test_a_gemini_path_passes_the_bytes_through_signatures_included() -> None:
    with gateway("gemini") as (gw, [google]), client(gw) as gemini:
        google.script(Reply(tool_call=ToolCall("get_weather", {"city": "Bergen"})))
        config = types.GenerateContentConfig(tools=[types.Tool(function_declarations=[WEATHER])])
        answer = gemini.models.generate_content(
            model="gemini-2.5-pro", contents="Bergen?", config=config
        )
        part = answer.candidates[0].content.parts[0]  # type: ignore[index, union-attr]
        assert part.thought_signature == base64.b64decode(SIGNATURE)
        sent = google.requests[-1]
        assert sent.path == "/v1beta/models/upstream-gemini:generateContent"
        assert sent.headers["x-goog-api-key"] == "sk-fake"  # the path's key, not the gateway's
        # The next turn carries the signature back, as the SDK wrote it.
        google.script(Reply(text="Sunny."))
        history = [
            types.Content(role="user", parts=[types.Part.from_text(text="Bergen?")]),
            answer.candidates[0].content,  # type: ignore[index]
            types.Content(
                role="user",
                parts=[
                    types.Part.from_function_response(
                        name="get_weather", response={"output": "sun"}
                    )
                ],
            ),
        ]
        stream = gemini.models.generate_content_stream(
            model="gemini-2.5-pro", contents=history, config=config
        )
        assert "".join(chunk.text or "" for chunk in stream) == "Sunny."
        model_turn = google.requests[-1].json["contents"][1]["parts"][0]
        assert model_turn["thoughtSignature"] == SIGNATURE


def test_a_gemini_client_fails_over_to_anthropic_when_the_daily_quota_is_gone() -> None:
    with gateway("gemini", "anthropic") as (gw, [google, claude]), client(gw) as gemini:
        google.script(QUOTA_PER_DAY)
        claude.script(Reply(text="Claude took over."))
        stream = gemini.models.generate_content_stream(model="gemini-2.5-pro", contents="hi")
        assert "".join(chunk.text or "" for chunk in stream) == "Claude took over."
        assert len(google.requests) == 1


def test_the_gateway_key_may_come_as_the_query_key_and_a_wrong_one_is_refused() -> None:
    with gateway("anthropic") as (gw, [claude]):
        claude.script(Reply(text="by query key"))
        body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
        path = "/v1beta/models/gemini-2.5-pro:generateContent"
        reply = request(gw.url, "POST", f"{path}?key={GATEWAY_KEY}", body)
        assert reply.status == 200
        assert reply.json()["candidates"][0]["content"]["parts"][0]["text"] == "by query key"  # type: ignore[index]
        refused = request(gw.url, "POST", f"{path}?key=wrong", body)
        assert refused.status == 401
        assert refused.json()["error"]["status"] == "UNAUTHENTICATED"  # type: ignore[index]
        with (
            client(gw, key="not-the-gateway-key") as stranger,
            pytest.raises(errors.ClientError) as caught,
        ):
            stranger.models.generate_content(model="gemini-2.5-pro", contents="hi")
        assert caught.value.code == 401
        cut = request(gw.url, "POST", path.replace("generateContent", "streamGenerateContent"), body,
                      {"x-goog-api-key": GATEWAY_KEY})  # fmt: skip
        assert cut.status == 400  # a stream without alt=sse is refused, in Gemini's shape
        assert cut.json()["error"]["status"] == "INVALID_ARGUMENT"  # type: ignore[index]
