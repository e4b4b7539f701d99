"""Mid-stream continuation: a stream cut after text reached the client is finished by a path
that accepts a prefill, so the client reads one seamless answer; never inside a tool call."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.clients import Clients
from tests.fakes import Cut, Fail, Reply, RunningUpstream
from tests.gateway import RunningGateway, gateway_over
from turnout.config.model import ProviderConfig, Settings
from turnout.providers.base import UpstreamCall
from turnout.providers.openai import OpenAIProvider
from turnout.providers.transport import HttpTransport
from turnout.redaction import SecretMask
from turnout.routing.continuation import ClientStream, ContinuationWriter
from turnout.routing.health import PathHealth
from turnout.routing.prefill import auto_style
from turnout.wire.sse import EventSplitter


@contextmanager
def cut_and_spare(
    primary_kind: str,
    spare_kind: str,
    tmp: Path,
    cooldown_s: float = 15.0,
    route: list[str] | None = None,
    top: dict[str, Any] | None = None,
    retries: int = 0,
    **spare: Any,
) -> Iterator[tuple[RunningGateway, RunningUpstream, RunningUpstream]]:
    """Route `m` (or `route`): a primary whose stream a test cuts, then a spare (`spare`:
    its settings); `top` adds top-level sections."""
    with gateway_over(
        primary_kind, spare_kind, names=["primary", "spare"],
        defaults={"retries": retries, "cooldown_s": cooldown_s},
        routes={"m": route or ["primary/model-a", "spare/model-b"]},
        per_path=[{}, spare], extra={"ledger": str(tmp / "ledger.sqlite3"), **(top or {})},
    ) as (gw, [primary, backup]):  # fmt: skip
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


#: What OpenAI's API answers a field it does not know (here vLLM's continue_final_message).
UNKNOWN_FIELD = Fail(
    400,
    '{"error":{"message":"Unrecognized request argument supplied: continue_final_message",'
    '"type":"invalid_request_error","param":null,"code":null}}',
)
#: What Anthropic's newer models answer a final assistant message.
NO_PREFILL = Fail(
    400,
    '{"type":"error","error":{"type":"invalid_request_error","message":"This model does not '
    'support assistant message prefill. The conversation must end with a user message."}}',
)


def test_without_a_path_that_continues_the_stream_ends_with_an_error_learned_once(
    tmp_path: Path, clients: Clients
) -> None:
    with cut_and_spare("openai", "openai", tmp_path, cooldown_s=0) as (gw, primary, spare):
        spare.script(UNKNOWN_FIELD)
        for _ in range(2):
            primary.script(Cut(after_events=3, text="one two three four"))
            stream = clients.openai(gw.url).chat.completions.create(
                model="m", messages=[{"role": "user", "content": "count"}], stream=True
            )
            with pytest.raises(openai.APIError, match="incomplete") as raised:
                for _ in stream:
                    pass
            assert "Unrecognized" not in str(raised.value)  # the refusal is never the error
        # Tried once with the prefill, then known not to continue: not asked again.
        assert len(spare.requests) == 1
        assert spare.requests[0].json["continue_final_message"] is True
        assert spare.requests[0].json["messages"][-1] == {"role": "assistant", "content": "one two"}


def test_a_fallback_that_rejects_prefill_leaves_the_path_that_broke_to_continue(
    tmp_path: Path, clients: Clients
) -> None:
    route = ["spare/model-b", "primary/model-a"]
    with cut_and_spare(
        "anthropic", "anthropic", tmp_path, cooldown_s=0, route=route, retries=1
    ) as (gw, primary, spare):
        # The spare fails both its tries, so the primary serves; it breaks after "alpha beta".
        spare.script(Fail(529, "overloaded"), Fail(529, "overloaded"), NO_PREFILL)
        primary.script(
            Cut(after_events=5, text="alpha beta gamma delta"), Reply(text=" gamma delta")
        )
        with clients.anthropic(gw.url).messages.stream(
            model="m", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
        ) as stream:
            text = "".join(stream.text_stream)
        assert text == "alpha beta gamma delta"
        assert spare.requests[-1].json["messages"][-1]["content"] == "alpha beta"
        assert primary.requests[-1].json["messages"][-1]["content"] == "alpha beta"
        assert not gw.gateway.prefill.continues("spare/model-b")
        assert gw.gateway.prefill.continues("primary/model-a")


def test_the_path_that_broke_has_only_its_remaining_retries_to_continue(
    tmp_path: Path, clients: Clients
) -> None:
    # retries: 2, so three tries of a path per walk of the route. The broken stream was the
    # only path's first; the continuation may try it twice more, and no more.
    route = ["primary/model-a"]
    with cut_and_spare(
        "anthropic", "anthropic", tmp_path, cooldown_s=0, retries=2, route=route
    ) as (gw, primary, _):
        primary.script(
            Cut(after_events=5, text="alpha beta gamma delta"),
            Fail(500, "internal error"),
            Fail(500, "internal error"),
            Reply(text=" gamma delta"),  # a fourth try would be served: there must be none
        )
        with (
            pytest.raises(anthropic.APIError, match="broke before the answer was complete"),
            clients.anthropic(gw.url).messages.stream(
                model="m", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
            ) as stream,
        ):
            "".join(stream.text_stream)
        assert len(primary.requests) == 3
    with sqlite3.connect(tmp_path / "ledger.sqlite3") as conn:
        trail = conn.execute("SELECT path, outcome FROM attempts ORDER BY seq").fetchall()
    assert [tuple(step) for step in trail] == [
        ("primary/model-a", "ok"),
        ("primary/model-a", "server_error"),
        ("primary/model-a", "server_error"),
    ]


def test_another_path_continues_before_the_one_that_broke(tmp_path: Path, clients: Clients) -> None:
    # The chaos run's failure after continuations walked the chain: a flaky first path broke,
    # and every continuation went to it again (first in the route, retries left) and broke
    # again, until the continuations were spent; the sound path behind it was never asked.
    with cut_and_spare("anthropic", "anthropic", tmp_path, cooldown_s=0, retries=2) as (
        gw,
        primary,
        spare,
    ):
        cut = Cut(after_events=5, text="alpha beta gamma delta")
        primary.script(cut, cut, cut, cut)
        spare.script(Reply(text=" gamma delta"))
        with clients.anthropic(gw.url).messages.stream(
            model="m", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
        ) as stream:
            assert "".join(stream.text_stream) == "alpha beta gamma delta"
        assert len(primary.requests) == 1
        assert spare.requests[0].json["messages"][-1]["content"] == "alpha beta"


def test_the_path_that_broke_is_cooling_before_the_client_has_the_end_of_the_answer(
    tmp_path: Path,
) -> None:
    # A client sends its next request (or closes its connection) the moment it has read the
    # answer's end. So the path that broke is cooled down before the rest of the answer goes
    # out, and the request is recorded as served, not as a client that hung up.
    with cut_and_spare("anthropic", "anthropic", tmp_path) as (gw, primary, spare):
        primary.script(Cut(after_events=5, text="alpha beta gamma delta"))
        spare.script(Reply(text=" gamma delta"))
        health = gw.gateway.health
        cooling, release = threading.Event(), threading.Event()

        async def held_cooling(*args: Any, **kwargs: Any) -> Any:
            cooling.set()
            await asyncio.to_thread(release.wait, 10)
            return await PathHealth.failed(health, *args, **kwargs)

        health.failed = held_cooling  # type: ignore[method-assign]
        body = {
            "model": "m", "max_tokens": 50, "stream": True,
            "messages": [{"role": "user", "content": "hi"}],
        }  # fmt: skip
        host, port = gw.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as conn:
            payload = json.dumps(body).encode()
            conn.sendall(
                b"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: application/json\r\nanthropic-version: 2023-06-01\r\n"
                + f"Content-Length: {len(payload)}\r\n\r\n".encode()
                + payload
            )
            conn.settimeout(0.2)  # a poll, so the test can look at the cooling between reads
            received = b""
            deadline = time.monotonic() + 30
            while not cooling.is_set() and b"message_stop" not in received:
                assert time.monotonic() < deadline, "neither the cooling nor the answer's end"
                with contextlib.suppress(TimeoutError):
                    chunk = conn.recv(65536)
                    assert chunk, "the stream ended before the answer did"
                    received += chunk
            assert b"message_stop" not in received  # cooling first, the end of the answer after
            release.set()
            conn.settimeout(10)
            while b"message_stop" not in received:
                chunk = conn.recv(65536)
                assert chunk, "the stream ended before the answer did"
                received += chunk
        assert b"gamma" in received  # the remainder, continued
        assert b"delta" in received
    with sqlite3.connect(tmp_path / "ledger.sqlite3") as db:
        [(status, outcome)] = db.execute("SELECT status, outcome FROM requests").fetchall()
    assert (status, outcome) == (200, "ok")


def test_a_continued_row_carries_both_attempts_tokens_and_the_estimated_cost(
    tmp_path: Path, clients: Clients
) -> None:
    prices = {"model-a": {"input": 3.0, "output": 15.0}, "model-b": {"input": 1.0, "output": 5.0}}
    with cut_and_spare("anthropic", "anthropic", tmp_path, top={"prices": prices}) as (
        gw,
        primary,
        spare,
    ):
        primary.script(Cut(after_events=5, text="alpha beta gamma delta"))  # reports 10 in
        spare.script(Reply(text=" gamma delta", usage=(40, 7)))
        with clients.anthropic(gw.url).messages.stream(
            model="m", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
        ) as stream:
            assert "".join(stream.text_stream) == "alpha beta gamma delta"
    with sqlite3.connect(tmp_path / "ledger.sqlite3") as conn:
        conn.row_factory = sqlite3.Row
        [row] = conn.execute("SELECT * FROM requests").fetchall()
        trail = conn.execute("SELECT path, outcome FROM attempts ORDER BY seq").fetchall()
    # The broken stream: 10 in as reported, "alpha beta" out estimated at 4 chars a token (3);
    # the continuation: 40 in (the prompt sent again) and 7 out, as reported.
    assert (row["tokens_in"], row["tokens_out"]) == (50, 10)
    expected = (10 * 3.0 + 3 * 15.0 + 40 * 1.0 + 7 * 5.0) / 1_000_000
    assert row["cost_usd"] == pytest.approx(expected)
    notes = json.loads(row["notes"])
    assert "estimated tokens: primary/model-a output" in notes
    # Served, then continued by the spare, asked before the path that broke.
    assert [tuple(step) for step in trail] == [
        ("primary/model-a", "ok"),
        ("spare/model-b", "ok"),
    ]


def test_a_broken_stream_that_nobody_continues_still_costs_what_it_used(
    tmp_path: Path, clients: Clients
) -> None:
    prices = {"model-a": {"input": 3.0, "output": 15.0}}
    with cut_and_spare("openai", "openai", tmp_path, top={"prices": prices}, prefill="none") as (
        gw,
        primary,
        _,
    ):
        primary.script(Cut(after_events=3, text="one two three four"), UNKNOWN_FIELD)
        stream = clients.openai(gw.url).chat.completions.create(
            model="m", messages=[{"role": "user", "content": "count"}], stream=True
        )
        with pytest.raises(openai.APIError, match="incomplete"):
            for _ in stream:
                pass
    with sqlite3.connect(tmp_path / "ledger.sqlite3") as conn:
        [(tokens_in, tokens_out, cost, notes)] = conn.execute(
            "SELECT tokens_in, tokens_out, cost_usd, notes FROM requests"
        ).fetchall()
    assert tokens_in > 0
    assert tokens_out == 2  # "one two": never reported, estimated
    assert cost == pytest.approx((tokens_in * 3.0 + 2 * 15.0) / 1_000_000)
    assert "estimated tokens: primary/model-a input+output" in json.loads(notes)


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
        continued = spare.requests[-1]
        assert continued.path == "/beta/chat/completions"  # the beta base, of the same path
        assert continued.json["messages"][-1] == {
            "role": "assistant",
            "content": "one two",
            "prefix": True,
        }
        assert [r.path for r in primary.requests] == ["/v1/chat/completions"]


def test_deepseek_continues_on_its_beta_base_and_answers_on_its_own() -> None:
    """DeepSeek serves chat prefix completion only under https://api.deepseek.com/beta: a
    path on its host is guessed to continue that way, and only a continuation goes there."""
    transport = HttpTransport(SecretMask())
    for base in (
        "https://api.deepseek.com/v1",
        "https://api.deepseek.com",
        "https://api.deepseek.com/beta",
    ):
        config = ProviderConfig(name="deepseek", kind="openai", base_url=base)
        assert auto_style(config) == "deepseek"
        provider = OpenAIProvider(config, transport)
        call = UpstreamCall("chat", "openai", b"{}", "deepseek-chat", True, Settings())
        assert provider.url_for(call) == f"{base}/chat/completions"
        continuation = dataclasses.replace(call, prefill="deepseek")
        assert provider.url_for(continuation) == "https://api.deepseek.com/beta/chat/completions"
        vllm = dataclasses.replace(call, prefill="vllm")
        assert provider.url_for(vllm) == f"{base}/chat/completions"


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


def test_a_continued_messages_answer_keeps_the_block_index_the_client_was_told() -> None:
    """A server tool block (Anthropic's web search) has no hub words, yet took index 0 and 1:
    the remainder goes on in block 2, where the client is reading."""
    client = ClientStream("anthropic")
    for event in [
        b'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1","model":"m"}}\n\n',
        b'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"server_tool_use","id":"srvtoolu_1","name":"web_search","input":{}}}\n\n',
        b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n',
        b'event: content_block_start\ndata: {"type":"content_block_start","index":1,"content_block":{"type":"web_search_tool_result","tool_use_id":"srvtoolu_1","content":[]}}\n\n',
        b'event: content_block_stop\ndata: {"type":"content_block_stop","index":1}\n\n',
        b'event: content_block_start\ndata: {"type":"content_block_start","index":2,"content_block":{"type":"text","text":""}}\n\n',
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":2,"delta":{"type":"text_delta","text":"Found"}}\n\n',
    ]:
        client.sent(event)
    assert client.continuable
    writer = ContinuationWriter(client, "model-b")
    [delta] = EventSplitter().feed(writer.text(" it."))
    assert json.loads(delta.data) == {
        "type": "content_block_delta",
        "index": 2,
        "delta": {"type": "text_delta", "text": " it."},
    }
    closing = EventSplitter().feed(b"".join(writer.finish("end_turn")))
    assert json.loads(closing[0].data) == {"type": "content_block_stop", "index": 2}


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


def test_a_responses_client_is_continued_in_the_same_output_item(
    tmp_path: Path, clients: Clients
) -> None:
    with cut_and_spare("openai", "anthropic", tmp_path) as (gw, primary, spare):
        primary.script(Cut(after_events=3, text="one two three four"))  # role, "one", " two"
        spare.script(Reply(text=" three four"))
        events = list(
            clients.openai(gw.url).responses.create(model="m", input="count", stream=True)
        )
    assert [e.sequence_number for e in events] == list(range(len(events)))
    deltas = [e for e in events if e.type == "response.output_text.delta"]
    assert "".join(d.delta for d in deltas) == "one two three four"
    assert len({d.item_id for d in deltas}) == 1
    assert events[-1].type == "response.completed"
    assert events[-1].response.output_text == "one two three four"
    assert spare.requests[-1].json["messages"][-1] == {"role": "assistant", "content": "one two"}


@pytest.mark.parametrize(
    ("reasoning", "before_text"),
    [(None, 0), ("", 2)],
    ids=["text", "reasoning-without-summary"],
)
def test_a_responses_passthrough_continued_keeps_one_numbering_and_one_item(
    tmp_path: Path, clients: Clients, reasoning: str | None, before_text: int
) -> None:
    """The client read the upstream's own events up to the break; the remainder goes on with
    the next sequence number, in the item and content part it was reading. A reasoning item
    without a summary is two events upstream (added, done), which the hub cannot tell apart
    from one whose summary was empty."""
    with cut_and_spare("responses", "anthropic", tmp_path) as (gw, primary, spare):
        # created, in_progress, [reasoning added, done], item added, part added, "one", " two".
        text = "one two three four"
        primary.script(Cut(after_events=6 + before_text, text=text, reasoning=reasoning))
        spare.script(Reply(text=" three four"))
        events = list(
            clients.openai(gw.url).responses.create(model="m", input="count", stream=True)
        )
        assert spare.requests[-1].json["messages"][-1] == {
            "role": "assistant",
            "content": "one two",
        }
        assert primary.requests[-1].path == "/v1/responses"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    [created] = [e for e in events if e.type == "response.created"]
    added = [e for e in events if e.type == "response.output_item.added"]
    message = added[-1]
    index = len(added) - 1
    deltas = [e for e in events if e.type == "response.output_text.delta"]
    assert "".join(d.delta for d in deltas) == text
    assert {(d.item_id, d.output_index, d.content_index) for d in deltas} == {
        (message.item.id, index, 0)
    }
    done = [e for e in events if e.type == "response.output_item.done"]
    assert [(e.item.id, e.output_index) for e in done] == [
        (e.item.id, e.output_index) for e in added
    ]
    assert events[-1].type == "response.completed"
    assert events[-1].response.id == created.response.id
    assert [item.id for item in events[-1].response.output] == [e.item.id for e in added]
    assert events[-1].response.output_text == text
