"""Tool definitions, tool_choice and thinking settings in both dialects.

Anthropic tool: `{"name", "description", "input_schema"}`; OpenAI tool:
`{"type": "function", "function": {"name", "description", "parameters"}}`.
"""

from __future__ import annotations

from typing import Any

from turnout.translate._shared import as_dict, as_list, as_text

# Anthropic tool_choice type -> OpenAI tool_choice, for the choices that need no tool name.
OPENAI_TOOL_CHOICE: dict[str, str] = {"auto": "auto", "any": "required", "none": "none"}
ANTHROPIC_TOOL_CHOICE: dict[str, str] = {
    openai: anthropic for anthropic, openai in OPENAI_TOOL_CHOICE.items()
}

# Thinking budget (tokens) -> reasoning effort: the first bound the budget stays under.
EFFORT_BY_BUDGET: tuple[tuple[int, str], ...] = ((4096, "low"), (16384, "medium"))
TOP_EFFORT = "high"
# Reasoning effort -> thinking budget, inside the bands above. 1024 is Anthropic's minimum.
BUDGET_BY_EFFORT: dict[str, int] = {
    "minimal": 1024,
    "low": 2048,
    "medium": 8192,
    "high": 24576,
    "xhigh": 32768,
}
MIN_BUDGET = 1024
_EMPTY_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}


def openai_tools(tools: object, dropped: list[str]) -> list[dict[str, Any]]:
    converted = []
    for raw in as_list(tools):
        tool = as_dict(raw)
        kind = as_text(tool.get("type")) or "custom"
        if kind != "custom":  # server tools (web search, bash, computer use) run at Anthropic
            dropped.append(f"tools.{tool.get('name') or kind} ({kind})")
            continue
        if "cache_control" in tool:
            dropped.append("cache_control")
        function: dict[str, Any] = {"name": as_text(tool.get("name"))}
        if "description" in tool:
            function["description"] = tool["description"]
        function["parameters"] = tool.get("input_schema") or dict(_EMPTY_SCHEMA)
        if "strict" in tool:
            function["strict"] = tool["strict"]
        converted.append({"type": "function", "function": function})
    return converted


def anthropic_tools(tools: object, dropped: list[str]) -> list[dict[str, Any]]:
    converted = []
    for raw in as_list(tools):
        tool = as_dict(raw)
        if tool.get("type") != "function":
            dropped.append(f"tools ({tool.get('type')})")
            continue
        function = as_dict(tool.get("function"))
        entry: dict[str, Any] = {"name": as_text(function.get("name"))}
        if "description" in function:
            entry["description"] = function["description"]
        entry["input_schema"] = function.get("parameters") or dict(_EMPTY_SCHEMA)
        if "strict" in function:
            entry["strict"] = function["strict"]
        converted.append(entry)
    return converted


def openai_tool_choice(choice: object, dropped: list[str]) -> tuple[Any, bool | None]:
    """OpenAI `tool_choice` and `parallel_tool_calls` (None: leave unset)."""
    data = as_dict(choice)
    kind = as_text(data.get("type"))
    parallel = False if data.get("disable_parallel_tool_use") is True else None
    if kind == "tool":
        return {"type": "function", "function": {"name": as_text(data.get("name"))}}, parallel
    if kind in OPENAI_TOOL_CHOICE:
        return OPENAI_TOOL_CHOICE[kind], parallel
    dropped.append(f"tool_choice.{kind}")
    return None, parallel


def anthropic_tool_choice(choice: object, dropped: list[str]) -> dict[str, Any] | None:
    if isinstance(choice, str) and choice in ANTHROPIC_TOOL_CHOICE:
        return {"type": ANTHROPIC_TOOL_CHOICE[choice]}
    data = as_dict(choice)
    if data.get("type") == "function":
        return {"type": "tool", "name": as_text(as_dict(data.get("function")).get("name"))}
    dropped.append(f"tool_choice.{data.get('type') or choice}")
    return None


def openai_reasoning_effort(thinking: dict[str, Any]) -> str | None:
    """Effort for an enabled thinking budget; None when thinking is off or left to the model
    (`adaptive`), which is what leaving reasoning_effort unset means too."""
    budget = thinking.get("budget_tokens")
    if thinking.get("type") != "enabled" or not isinstance(budget, int):
        return None
    return next((effort for bound, effort in EFFORT_BY_BUDGET if budget < bound), TOP_EFFORT)


def anthropic_thinking(effort: str, body: dict[str, Any], *, explicit_max: bool) -> None:
    """Set `thinking` for a reasoning effort. An explicit cap counts thinking too (as OpenAI's
    max_completion_tokens does), so the budget fits under it; a default cap is for the answer,
    so the budget is added on top."""
    budget = BUDGET_BY_EFFORT.get(effort)
    if budget is None:
        return
    if not explicit_max:
        body["max_tokens"] += budget
    budget = min(budget, body["max_tokens"] - 1)
    if budget >= MIN_BUDGET:
        body["thinking"] = {"type": "enabled", "budget_tokens": budget}
