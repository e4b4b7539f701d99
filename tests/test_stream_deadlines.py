"""Deadlines learned from a path, against fake upstreams on 127.0.0.1: a slow first token
on a one-line prompt fails over, the same wait on a 200k-token prompt does not, and a stall
mid-answer on a steady path is caught long before 30 s."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import openai
import pytest
import yaml

from tests.clients import Clients
from tests.fakes import Reply, RunningUpstream, Stall
from tests.gateway import RunningGateway, running_gateway

#: About 200k prompt tokens at four bytes a token.
LARGE_PROMPT = "word " * 160_000


@contextmanager
def steady_pair(
    **defaults: Any,
) -> Iterator[tuple[RunningGateway, RunningUpstream, RunningUpstream]]:
    with ExitStack() as stack:
        primary = stack.enter_context(RunningUpstream())
        backup = stack.enter_context(RunningUpstream())
        config = {
            "defaults": {"retries": 0, "cooldown_s": 0, **defaults},
            "providers": {
                "primary": {"kind": "openai", "base_url": primary.url + "/v1", "prefill": "none"},
                "backup": {"kind": "openai", "base_url": backup.url + "/v1", "prefill": "none"},
            },
            "routes": {"m": ["primary/model-a", "backup/model-b"]},
        }
        gw = stack.enter_context(running_gateway(yaml.safe_dump(config, sort_keys=False)))
        yield gw, primary, backup


def streamed(clients: Clients, url: str, prompt: str = "hi") -> tuple[str, str]:
    """The text and the attempts trail of one streamed answer."""
    raw = clients.openai(url).chat.completions.with_raw_response.create(
        model="m", messages=[{"role": "user", "content": prompt}], stream=True
    )
    text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
    return text, raw.headers["x-turnout-attempts"]


def warm_up(clients: Clients, gw: RunningGateway, primary: RunningUpstream, n: int) -> None:
    """A few ordinary answers, from which the gateway learns the primary's pace."""
    primary.script(Reply(text="one two three four five six"))
    for _ in range(n):
        assert streamed(clients, gw.url) == ("one two three four five six", "primary:ok")


def test_a_slow_first_token_on_a_one_line_prompt_fails_over_but_a_large_prompt_waits(
    clients: Clients,
) -> None:
    with steady_pair(first_event_floor_s=1) as (gw, primary, backup):
        warm_up(clients, gw, primary, 5)
        backup.script(Reply(text="from backup"))
        primary.script(Stall(before_first_byte_s=20))  # 60 s would have waited it out
        assert streamed(clients, gw.url) == ("from backup", "primary:timeout -> backup:ok")
        # The same path, a little slow on a 200k-token prompt: that is reading, not a stall.
        primary.script(Reply(text="read it all", first_byte_delay_s=2))
        assert streamed(clients, gw.url, LARGE_PROMPT) == ("read it all", "primary:ok")


def test_a_stall_mid_answer_on_a_steady_path_is_caught_in_seconds(clients: Clients) -> None:
    with steady_pair(idle_floor_s=1) as (gw, primary, _):
        warm_up(clients, gw, primary, 3)
        # Role, "Hello", " from", " the": then silence for 30 s with the socket open.
        primary.script(Stall(after_events=4, stall_s=30))
        with pytest.raises(
            openai.APIError, match=r"broke before the answer was complete \(timeout/read_timeout\)"
        ):
            streamed(clients, gw.url)
