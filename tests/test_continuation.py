"""Mid-stream continuation: a stream cut after text reached the client is finished by a path
that accepts a prefill, so the client reads one seamless answer; never inside a tool call."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.clients import Clients
from tests.fakes import Cut, Reply, RunningUpstream
from tests.gateway import RunningGateway, running_gateway
from turnout.routing.continuation import ClientStream


@contextmanager
def cut_and_spare(
    primary_kind: str, spare_kind: str, tmp: Path, cooldown_s: float = 15.0, **spare: Any
) -> Iterator[tuple[RunningGateway, RunningUpstream, RunningUpstream]]:
    with ExitStack() as stack:
        primary = stack.enter_context(RunningUpstream())
        backup = stack.enter_context(RunningUpstream())

        def provider(kind: str, up: RunningUpstream, **extra: Any) -> dict[str, Any]:
            return {"kind": kind, "base_url": up.url + ("/v1" if kind == "openai" else ""), **extra}

        config = {
            "ledger": str(tmp / "ledger.sqlite3"),
            "defaults": {"retries": 0, "cooldown_s": cooldown_s},
            "providers": {
                "primary": provider(primary_kind, primary),
                "spare": provider(spare_kind, backup, **spare),
            },
            "routes": {"m": ["primary/model-a", "spare/model-b"]},
        }
        gw = stack.enter_context(running_gateway(yaml.safe_dump(config, sort_keys=False)))
        yield gw, primary, backup


def test_an_anthropic_stream_cut_midway_is_finished_seamlessly(
    tmp_path: Path, clients: Clients
) -> None:
    with cut_and_spare("anthropic", "anthropic", tmp_path) as (gw, primary, spare):
        # message_start, ping, block start, "alpha", " beta": then the connection drops.
        primary.script(Cut(after_events=5, text="alpha beta gamma delta"))
        spare.script(Reply(text=" gamma delta"))
        with clients.anthropic(gw.url).messages.stream(
            model="m", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
        ) as stream:
            text = "".join(stream.text_stream)
            final = stream.get_final_message()
        assert text == "alpha beta gamma delta"
        assert final.stop_reason == "end_turn"
        sent = spare.requests[-1].json
        assert sent["messages"][-1] == {"role": "assistant", "content": "alpha beta"}
    with sqlite3.connect(tmp_path / "ledger.sqlite3") as conn:
        [(outcome, notes)] = conn.execute("SELECT outcome, notes FROM requests").fetchall()
    assert outcome == "ok"
    assert any("continued on spare/model-b" in note for note in json.loads(notes))


def test_an_openai_client_is_continued_by_an_anthropic_path(
    tmp_path: Path, clients: Clients
) -> None:
    with cut_and_spare("openai", "anthropic", tmp_path) as (gw, primary, spare):
        primary.script(Cut(after_events=3, text="one two three four"))  # role, "one", " two"
        spare.script(Reply(text=" three four"))
        stream = clients.openai(gw.url).chat.completions.create(
            model="m", messages=[{"role": "user", "content": "count"}], stream=True
        )
        chunks = list(stream)
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == "one two three four"
        assert chunks[-1].choices[0].finish_reason == "stop"
        assert chunks[-1].model == "model-b"  # the remainder names the model that wrote it
        assert spare.requests[-1].json["messages"][-1] == {
            "role": "assistant",
            "content": "one two",
        }


def test_without_a_path_that_accepts_a_prefill_the_stream_ends_with_an_error(
    tmp_path: Path, clients: Clients
) -> None:
    with cut_and_spare("openai", "openai", tmp_path) as (gw, primary, spare):
        primary.script(Cut(after_events=3, text="one two three four"))
        stream = clients.openai(gw.url).chat.completions.create(
            model="m", messages=[{"role": "user", "content": "count"}], stream=True
        )
        with pytest.raises(openai.APIError, match="incomplete"):
            for _ in stream:
                pass
        assert spare.requests == []


def test_a_deepseek_style_path_continues_with_a_prefix_message(
    tmp_path: Path, clients: Clients
) -> None:
    with cut_and_spare("openai", "openai", tmp_path, prefill="deepseek") as (gw, primary, spare):
        primary.script(Cut(after_events=3, text="one two three"))
        spare.script(Reply(text=" three"))
        stream = clients.openai(gw.url).chat.completions.create(
            model="m", messages=[{"role": "user", "content": "count"}], stream=True
        )
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        assert text == "one two three"
        assert spare.requests[-1].json["messages"][-1] == {
            "role": "assistant",
            "content": "one two",
            "prefix": True,
        }


def test_never_continued_inside_a_tool_call_or_thinking() -> None:
    events = [
        b'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1","model":"m"}}\n\n',
        b'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n',
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Let me look."}}\n\n',
        b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n',
    ]
    client = ClientStream("anthropic")
    for event in events:
        client.sent(event)
    assert client.continuable
    client.sent(
        b'event: content_block_start\ndata: {"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"t","name":"read","input":{}}}\n\n'
    )
    assert not client.continuable
    thinking = ClientStream("openai")
    thinking.sent(
        b'data: {"id":"c","model":"m","choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\n'
    )
    thinking.sent(
        b'data: {"id":"c","model":"m","choices":[{"index":0,"delta":{"reasoning_content":"hmm"}}]}\n\n'
    )
    assert not thinking.continuable


WORDS = st.lists(
    st.sampled_from(["alpha", "beta", "gamma", "delta", "x", "longer-word", "42"]),
    min_size=2,
    max_size=12,
)


@pytest.fixture(scope="module")
def shared_pair(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningGateway, RunningUpstream, RunningUpstream]]:
    tmp = tmp_path_factory.mktemp("continuation")
    with cut_and_spare("anthropic", "anthropic", tmp, cooldown_s=0) as trio:
        yield trio


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(words=WORDS, data=st.data())
def test_the_client_assembles_exactly_what_the_upstreams_produced(
    shared_pair: tuple[RunningGateway, RunningUpstream, RunningUpstream],
    words: list[str],
    data: st.DataObject,
) -> None:
    gw, primary, spare = shared_pair
    cut = data.draw(st.integers(min_value=1, max_value=len(words) - 1))
    full = " ".join(words)
    remainder = "".join(" " + w for w in words[cut:])
    primary.script(Cut(after_events=3 + cut, text=full))
    spare.script(Reply(text=remainder))
    with (
        anthropic.Anthropic(base_url=gw.url, api_key="x", max_retries=0) as client,
        client.messages.stream(
            model="m", max_tokens=100, messages=[{"role": "user", "content": "go"}]
        ) as stream,
    ):
        text = "".join(stream.text_stream)
    assert text == full
