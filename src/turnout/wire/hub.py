"""The one representation every wire format is translated through: content blocks.

A request is messages of parts (text, image, tool call, tool result, reasoning) plus the
settings that shape the answer; a whole response is parts, a stop reason and usage; a stream is
a sequence of small events over one open part at a time. Codecs decode into these and encode
out of them; nothing here knows a wire format.

Whatever a decoder meets that has no place here it names in `Request.losses` (in the client's
words); whatever an encoder cannot carry it names as it goes. `needed` losses change what the
client gets (a structured format, a second choice, an image): they refuse the path unless the
route allows dropping. The others are hints whose loss changes nothing the client relies on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["system", "user", "assistant"]
#: Why an answer stopped, in one vocabulary for every wire.
Stop = Literal[
    "end_turn", "max_tokens", "tool_use", "stop_sequence", "refusal", "pause_turn", "context_window"
]
PartKind = Literal["text", "reasoning", "tool_call"]


@dataclass(slots=True)
class Text:
    text: str
    cache: bool = False  # an Anthropic cache breakpoint sits on this block
    signature: str = ""  # a Gemini thought signature on this text, to go back with it


@dataclass(slots=True)
class Image:
    """An image by URL (`data:` URLs for inline bytes) or by provider file id."""

    url: str = ""
    file_id: str = ""
    detail: str = "auto"
    label: str = "image"  # how the client's wire names it, for a loss


@dataclass(slots=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # JSON text, as the model wrote it
    signature: str = ""  # a Gemini thought signature on this call, to go back with it


@dataclass(slots=True)
class ToolResult:
    call_id: str
    content: list[Text | Image]
    is_error: bool = False
    plain: bool = False  # sent as one string


@dataclass(slots=True)
class Reasoning:
    """Reasoning the model wrote. `origin` is the wire that can take it back: Anthropic only
    accepts thinking it signed, a Responses upstream only its own encrypted content."""

    text: str
    origin: str  # the wire that wrote it ("anthropic", "responses", "openai", "gemini")
    signature: str = ""  # Anthropic's signature, or a Responses item's encrypted content
    redacted: bool = False  # Anthropic `redacted_thinking`: `signature` holds its data
    item_id: str = ""  # a Responses reasoning item's id
    label: str = "thinking"  # how the client's wire names it, for a loss


@dataclass(slots=True)
class Opaque:
    """A piece of content the hub has no place for, kept only to be named when it is lost."""

    label: str
    needed: bool = False


Part = Text | Image | ToolCall | ToolResult | Reasoning | Opaque


@dataclass(slots=True)
class Message:
    role: Role
    parts: list[Part]
    #: A user turn written as one plain string (kept so simple turns stay simple).
    plain: bool = False


@dataclass(slots=True)
class Tool:
    """A function the model may call; any other kind is `kind` with its original `raw`."""

    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None
    kind: str = "function"
    raw: dict[str, Any] = field(default_factory=dict)
    cache: bool = False
    label: str = ""  # how the client's wire names a tool no other wire can run


@dataclass(slots=True)
class ToolChoice:
    mode: Literal["auto", "none", "required", "tool"]
    name: str = ""


@dataclass(slots=True)
class Loss:
    label: str  # in the client's words
    needed: bool = False


@dataclass(slots=True)
class Request:
    model: str
    messages: list[Message]
    stream: bool = False
    max_tokens: int | None = None  # None: the client set no cap
    temperature: float | None = None
    top_p: float | None = None
    stop: list[str] | None = None
    tools: list[Tool] = field(default_factory=list)
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    effort: str | None = None  # reasoning effort in OpenAI's words
    thinking_budget: int | None = None  # Anthropic's budget, when the client gave one
    user: str | None = None
    #: A structured output: {"type": "json_schema", "name", "schema", "strict"} or json_object.
    output_format: dict[str, Any] | None = None
    choices: int = 1
    include_usage: bool = False  # the client asked for a usage chunk (OpenAI streams)
    #: Reasoning from earlier turns should come back (Responses `include` of encrypted content).
    keep_reasoning: bool = False
    losses: list[Loss] = field(default_factory=list)
    #: How the client's wire names a setting (`effort` -> "reasoning_effort"), for a loss.
    labels: dict[str, str] = field(default_factory=dict)

    def label(self, feature: str) -> str:
        return self.labels.get(feature, feature)


@dataclass(slots=True)
class Usage:
    """Token counts kept apart as prices are: uncached input, cache reads and writes, output."""

    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_write: int = 0
    reasoning: int = 0  # of `output`, when the upstream says


@dataclass(slots=True)
class Response:
    id: str
    model: str
    parts: list[Part]
    stop: Stop
    usage: Usage
    stop_sequence: str | None = None


# --- stream events: one open part at a time ----------------------------------------------


@dataclass(slots=True)
class Started:
    id: str
    model: str
    usage: Usage | None = None


@dataclass(slots=True)
class Opened:
    kind: PartKind
    id: str = ""  # a tool call's id, a reasoning item's id
    name: str = ""  # a tool call's function
    text: str = ""  # text that came with the opening


@dataclass(slots=True)
class Delta:
    text: str  # more of the open part: text, reasoning or tool arguments


@dataclass(slots=True)
class Signed:
    """The open part's signature: a reasoning part's (Anthropic's signature, a Responses item's
    encrypted content), or a Gemini thought signature, which Gemini puts on text and tool
    calls too."""

    signature: str
    origin: str


@dataclass(slots=True)
class Closed:
    pass


@dataclass(slots=True)
class UsageSeen:
    usage: Usage  # the totals so far


@dataclass(slots=True)
class Stopped:
    reason: Stop


@dataclass(slots=True)
class Ended:
    """The answer is whole."""


Event = Started | Opened | Delta | Signed | Closed | UsageSeen | Stopped | Ended
