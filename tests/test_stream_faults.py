"""Streams and upstreams that misbehave: deadlines, stalls, malformed events, missing end
markers, gate scope and a flapping primary. Real SDK clients, fake upstreams on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import openai
import pytest

from tests.clients import Clients
from tests.clock import FakeClock
from tests.fakes import Cut, Fail, Malformed, Reply, RunningUpstream, Stall
from tests.gateway import RunningGateway, gateway_over

EXTRA_USAGE = Fail(
    400,
    '{"type":"error","error":{"type":"invalid_request_error","message":"You\'re out of extra usage. Add more at claude.ai/settings/usage and keep going."}}',
)


@contextmanager
def pair(
    kind: str = "openai",
    routes: dict[str, list[str]] | None = None,
    clock: FakeClock | None = None,
    **defaults: Any,
) -> Iterator[tuple[RunningGateway, RunningUpstream, RunningUpstream]]:
    """Route `m`: a primary of `kind`, then an OpenAI-compatible backup."""
    with gateway_over(
        kind, "openai", route="m", names=["primary", "backup"], models=["model-a", "model-b"],
        defaults=defaults, routes=routes, clock=clock,
    ) as (gw, [primary, backup]):  # fmt: skip
        yield gw, primary, backup


def stream_text(clients: Clients, url: str, model: str = "m") -> tuple[str, list[Any]]:
    stream = clients.openai(url).chat.completions.create(
        model=model, messages=[{"role": "user", "content": "hi"}], stream=True
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return text, chunks


def test_silent_headers_fail_over_at_once_without_a_same_path_retry(clients: Clients) -> None:
    with pair(headers_timeout_s=0.3, retries=2) as (gw, primary, backup):
        primary.script(Stall(before_first_byte_s=5, stall_s=5))
        backup.script(Reply(text="from backup"))
        raw = clients.openai(gw.url).chat.completions.with_raw_response.create(
            model="m", messages=[{"role": "user", "content": "hi"}]
        )
        assert raw.parse().choices[0].message.content == "from backup"
        assert raw.headers["x-turnout-attempts"] == "primary:timeout -> backup:ok"
        again = clients.openai(gw.url).chat.completions.with_raw_response.create(
            model="m", messages=[{"role": "user", "content": "hi"}]
        )
        assert again.headers["x-turnout-attempts"] == "primary:skipped(timeout) -> backup:ok"


def test_no_first_content_event_in_time_fails_over(clients: Clients) -> None:
    with pair("anthropic", first_event_timeout_s=0.3) as (gw, primary, backup):
        primary.script(Stall(after_events=1, stall_s=5))  # message_start, then silence
        backup.script(Reply(text="backup streams"))
        with clients.anthropic(gw.url).messages.stream(
            model="m", max_tokens=20, messages=[{"role": "user", "content": "hi"}]
        ) as stream:
            assert "".join(stream.text_stream) == "backup streams"


def test_a_malformed_event_ends_the_stream_as_broken_not_as_whole(clients: Clients) -> None:
    # A piece of the answer could not be read: skipping it would pass the rest off as whole.
    # No retry left on the primary, and a backup that does not take a prefill: nobody can
    # continue the answer, so it ends as broken.
    with pair(retries=0) as (gw, primary, backup):
        primary.script(Malformed("sse"))
        backup.script(
            Fail(
                400,
                '{"error":{"message":"Unrecognized request argument supplied: '
                'continue_final_message","type":"invalid_request_error"}}',
            )
        )
        with pytest.raises(openai.APIError, match="stream event that is not JSON"):
            stream_text(clients, gw.url)


def test_malformed_or_cut_whole_bodies_fail_over(clients: Clients) -> None:
    with pair(retries=0, cooldown_s=0) as (gw, primary, backup):
        primary.script(Malformed("json"), Cut(after_events=0))
        backup.script(Reply(text="sound body"))
        client = clients.openai(gw.url)
        for _ in range(2):
            raw = client.chat.completions.with_raw_response.create(
                model="m", messages=[{"role": "user", "content": "hi"}]
            )
            assert raw.parse().choices[0].message.content == "sound body"
            assert raw.headers["x-turnout-attempts"].startswith("primary:server_error")


def test_a_finished_stream_without_done_completes_at_once(clients: Clients) -> None:
    with pair() as (gw, primary, _):
        # role, "one", " two", finish, usage: then the connection closes, no [DONE].
        primary.script(Cut(after_events=5, text="one two"))
        text, chunks = stream_text(clients, gw.url)
        assert text == "one two"
        assert chunks[-1].choices[0].finish_reason == "stop"


def test_every_chunk_names_the_model_that_answered(clients: Clients) -> None:
    with pair() as (gw, primary, backup):
        primary.script(Fail(503, "Service Unavailable"))
        backup.script(Reply(text="named"))
        _, chunks = stream_text(clients, gw.url)
        assert {c.model for c in chunks} == {"model-b"}


def test_a_quota_gate_covers_every_model_on_the_credential(clients: Clients) -> None:
    routes = {
        "m": ["primary/model-a", "backup/model-b"],
        "n": ["primary/model-c", "backup/model-d"],
    }
    with pair("anthropic", routes=routes) as (gw, primary, _):
        primary.script(EXTRA_USAGE)
        client = clients.openai(gw.url)
        first = client.chat.completions.with_raw_response.create(
            model="m", messages=[{"role": "user", "content": "hi"}]
        )
        assert first.headers["x-turnout-attempts"] == "primary:quota -> backup:ok"
        other = client.chat.completions.with_raw_response.create(
            model="n", messages=[{"role": "user", "content": "hi"}]
        )
        assert other.headers["x-turnout-attempts"] == "primary:skipped(quota) -> backup:ok"
        assert len(primary.requests) == 1  # switching models on a gated credential: no call


def test_an_unknown_model_gates_only_that_model(clients: Clients) -> None:
    routes = {
        "m": ["primary/model-a", "backup/model-b"],
        "n": ["primary/model-c", "backup/model-d"],
    }
    with pair(routes=routes) as (gw, primary, _):
        primary.script(
            Fail(
                404,
                '{"error":{"message":"The model `model-a` does not exist","code":"model_not_found"}}',
            ),
            Reply(text="model-c works"),
        )
        client = clients.openai(gw.url)
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
        served = client.chat.completions.with_raw_response.create(
            model="n", messages=[{"role": "user", "content": "hi"}]
        )
        assert served.parse().choices[0].message.content == "model-c works"
        assert served.headers["x-turnout-attempts"] == "primary:ok"


def test_a_flapping_primary_gets_traffic_back_once_it_recovers(clients: Clients) -> None:
    clock = FakeClock()
    with pair(clock=clock, cooldown_s=0.3, retries=0) as (gw, primary, backup):
        primary.script(Fail(500, "boom"), Fail(502, "bad gateway"), Reply(text="primary"))
        backup.script(Reply(text="backup"))
        client = clients.openai(gw.url)
        served_by = []
        for _ in range(8):  # eight requests, a quarter of a second apart on the clock
            raw = client.chat.completions.with_raw_response.create(
                model="m", messages=[{"role": "user", "content": "hi"}]
            )
            served_by.append(raw.headers["x-turnout-path"].split("/")[0])
            clock.advance(0.25)
        assert "backup" in served_by[:3]
        assert served_by[-3:] == ["primary"] * 3
