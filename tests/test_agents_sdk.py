"""The OpenAI Agents SDK on its default model (the Responses API) with a function tool, through
turnout to an Anthropic path and an OpenAI Chat path. Tracing is off: nothing leaves loopback."""

from __future__ import annotations

import asyncio

import openai
import pytest

from agents import Agent, OpenAIResponsesModel, RunConfig, Runner, function_tool
from tests.fakes import Reply, ToolCall
from tests.gateway import gateway_over

looked_up: list[str] = []


@function_tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    looked_up.append(city)
    return f"sunny in {city}"


async def ask(base_url: str, question: str) -> str:
    client = openai.AsyncOpenAI(base_url=base_url, api_key="anything", max_retries=0)
    try:
        agent = Agent(
            name="forecaster",
            instructions="Answer with the tool.",
            tools=[get_weather],
            model=OpenAIResponsesModel(model="m", openai_client=client),
        )
        result = await Runner.run(agent, question, run_config=RunConfig(tracing_disabled=True))
        return str(result.final_output)
    finally:
        await client.close()


@pytest.mark.parametrize("kind", ["anthropic", "openai"])
def test_an_agent_calls_its_function_tool_through_turnout(kind: str) -> None:
    looked_up.clear()
    with gateway_over(kind, route="m", models=["upstream-model"]) as (gw, [up]):
        up.script(
            Reply(tool_call=ToolCall("get_weather", {"city": "Oslo"}, id="call_w")),
            Reply(text="It is sunny in Oslo."),
        )
        answer = asyncio.run(ask(gw.openai_base, "What is the weather in Oslo?"))
        assert answer == "It is sunny in Oslo."
        assert looked_up == ["Oslo"]
        first, second = up.requests
        names = [t.get("name") or t["function"]["name"] for t in first.json["tools"]]
        assert names == ["get_weather"]
        if kind == "anthropic":
            [result] = second.json["messages"][-1]["content"]
            assert (result["tool_use_id"], result["content"]) == ("call_w", "sunny in Oslo")
        else:
            [result] = [m for m in second.json["messages"] if m["role"] == "tool"]
            assert (result["tool_call_id"], result["content"]) == ("call_w", "sunny in Oslo")
