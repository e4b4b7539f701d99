"""Fake model providers for tests: real HTTP servers on 127.0.0.1, scripted step by step.

    fake.script(Reply(tool_call=ToolCall("get_weather", {"city": "Oslo"})), Fail(529, body))

`FakeUpstream` runs on the caller's event loop; `RunningUpstream` runs on its
own thread; `tests.fakes.fixtures.upstream` is the pytest fixture.
"""

from tests.fakes.running import RunningUpstream
from tests.fakes.steps import (
    DEFAULT_TEXT,
    Continues,
    Cut,
    ErrorAfterHandshake,
    Fail,
    Malformed,
    Quote,
    Reply,
    Reset,
    Stall,
    Step,
    ToolCall,
)
from tests.fakes.upstream import FakeUpstream, RecordedRequest

__all__ = [
    "DEFAULT_TEXT",
    "Continues",
    "Cut",
    "ErrorAfterHandshake",
    "Fail",
    "FakeUpstream",
    "Malformed",
    "Quote",
    "RecordedRequest",
    "Reply",
    "Reset",
    "RunningUpstream",
    "Stall",
    "Step",
    "ToolCall",
]
