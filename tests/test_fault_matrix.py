"""The fault matrix: each fault a stream meets, for each client dialect (Chat, Messages,
Responses, Gemini), through a real gateway over fake upstreams on 127.0.0.1, read by each
dialect's own SDK. Whatever broke, the client assembles exactly the answer the upstreams
produced (nothing lost, nothing repeated) in events its protocol allows; where the answer
cannot be continued, the stream ends with an error event its SDK raises, never a quiet cut.

Time-dependent deadlines run on small configured figures (`UNIT_S`), and every fake timing is
a multiple of them far from the edge: a loaded machine moves nothing across it.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.clock import FakeClock
from tests.dialect_clients import DIALECTS, Answer, Dialect
from tests.fakes import Continues, Cut, ErrorAfterHandshake, Fail, RunningUpstream, Stall, Step
from tests.gateway import RunningGateway, gateway_over

#: The deadline figures the matrix configures (seconds): the first-event floor a learned path
#: gets, the idle ceiling. Fake waits are multiples of it.
UNIT_S = 2.0
#: A stall: far beyond any deadline here, and bounded (the fake ends it with the test).
STALL_S = 30 * UNIT_S
#: About 200k prompt tokens at four bytes a token: 100 s of reading allowed on top.
LARGE_PROMPT = "word " * 160_000
#: The answer every upstream in the matrix knows.
ANSWER = "alpha beta gamma delta epsilon zeta eta theta"
#: What Anthropic's newer models answer a final assistant message.
NO_PREFILL = Fail(
    400,
    '{"type":"error","error":{"type":"invalid_request_error","message":"This model does not '
    'support assistant message prefill. The conversation must end with a user message."}}',
)
BROKE = "broke before the answer was complete"
dialects = pytest.mark.parametrize("dialect", DIALECTS, ids=str)


@dataclass
class Rig:
    gw: RunningGateway
    primary: RunningUpstream
    spare: RunningUpstream
    ledger: Path
    clock: FakeClock | None = None
    answers: list[Answer] = field(default_factory=list)

    def ask(self, dialect: Dialect, prompt: str = "go") -> Answer:
        answer = dialect.stream(self.gw.url, "m", prompt)
        self.answers.append(answer)
        return answer

    def rows(self) -> list[sqlite3.Row]:
        with sqlite3.connect(self.ledger) as conn:
            conn.row_factory = sqlite3.Row
            return conn.execute("SELECT * FROM requests ORDER BY rowid").fetchall()


@contextmanager
def rig(
    tmp: Path,
    primary: str,
    spare: str = "anthropic",
    spare_prefill: str | None = None,
    clock: FakeClock | None = None,
    top: dict[str, Any] | None = None,
    **defaults: Any,
) -> Iterator[Rig]:
    """Route `m`: a primary of kind `primary`, then a spare that continues (Anthropic) or,
    with `spare_prefill: none`, does not."""
    ledger = tmp / "ledger.sqlite3"
    with gateway_over(
        primary, spare, names=["primary", "spare"], models=["model-a", "model-b"], route="m",
        defaults={"retries": 0, "cooldown_s": 0, **defaults}, clock=clock,
        per_path=[{}, {} if spare_prefill is None else {"prefill": spare_prefill}],
        extra={"ledger": str(ledger), **(top or {})},
    ) as (gw, [first, second]):  # fmt: skip
        yield Rig(gw, first, second, ledger, clock)


def cut_after(dialect: Dialect, words: int, text: str = ANSWER) -> Cut:
    """The primary's stream closing after `words` words of `text`."""
    return Cut(after_events=dialect.handshake + words, text=text)


def prefix(words: int, text: str = ANSWER) -> str:
    """The first `words` words of `text`: what reached the client before a break."""
    return " ".join(text.split(" ")[:words])


# (a) A slow first token: failed over in seconds on a one-line prompt, waited for on a large one.


@dialects
def test_a_slow_first_token_fails_over_on_a_small_prompt_and_waits_on_a_large_one(
    tmp_path: Path, dialect: Dialect
) -> None:
    with rig(tmp_path, dialect.kind, first_event_floor_s=UNIT_S) as r:
        r.primary.script(Continues(ANSWER))
        for _ in range(5):  # the gateway learns the primary's pace: it answers at once
            assert r.ask(dialect) == Answer(ANSWER, None, "primary/model-a")
        r.primary.script(Stall(before_first_byte_s=STALL_S, text="never sent"))
        r.spare.script(Continues("from the spare"))
        # The learned deadline (UNIT_S) ends the wait long before 60 s, let alone STALL_S.
        assert r.ask(dialect) == Answer("from the spare", None, "spare/model-b")
        # Slow by three of those deadlines on a 200k-token prompt: reading it, not a stall.
        r.primary.script(Stall(before_first_byte_s=3 * UNIT_S, stall_s=0, text="read it all"))
        assert r.ask(dialect, LARGE_PROMPT) == Answer("read it all", None, "primary/model-a")
        assert len(r.spare.requests) == 1


# (b) A cut at word N, and (c) a stall after some words with the socket left open.


def cut(dialect: Dialect, words: int) -> Step:
    return cut_after(dialect, words)


def stall(dialect: Dialect, words: int) -> Step:
    return Stall(after_events=dialect.handshake + words, stall_s=STALL_S, text=ANSWER)


@dialects
@pytest.mark.parametrize("fault", [cut, stall], ids=["cut", "stall"])
@pytest.mark.parametrize("words", [1, 4])
def test_a_broken_stream_is_continued_into_the_same_answer(
    tmp_path: Path, dialect: Dialect, fault: Callable[[Dialect, int], Step], words: int
) -> None:
    with rig(tmp_path, dialect.kind, read_timeout_s=UNIT_S) as r:
        r.primary.script(fault(dialect, words))
        r.spare.script(Continues(ANSWER))
        assert r.ask(dialect) == Answer(ANSWER, None, "primary/model-a")
        [continued] = [q.json for q in r.spare.requests]
        assert continued["messages"][-1] == {"role": "assistant", "content": prefix(words)}


@dialects
@pytest.mark.parametrize("fault", [cut, stall], ids=["cut", "stall"])
def test_a_broken_stream_nobody_can_continue_ends_with_an_error_event(
    tmp_path: Path, dialect: Dialect, fault: Callable[[Dialect, int], Step]
) -> None:
    with rig(tmp_path, dialect.kind, spare_prefill="none", read_timeout_s=UNIT_S) as r:
        r.primary.script(fault(dialect, 2))
        answer = r.ask(dialect)
        assert answer.text == prefix(2)  # what was sent, and nothing after it
        assert answer.error is not None
        assert BROKE in answer.error
        assert r.spare.requests == []  # a path that does not continue is not asked


# (d) A fallback that rejects the prefill: the path that broke continues the answer itself.


@dialects
def test_a_fallback_that_rejects_the_prefill_leaves_the_primary_to_continue(
    tmp_path: Path, dialect: Dialect
) -> None:
    # retries: 1, so the primary has a try left after its stream broke.
    with rig(tmp_path, dialect.continuing, retries=1) as r:
        handshake = {"openai": 1, "anthropic": 3}[dialect.continuing]
        r.primary.script(Cut(after_events=handshake + 3, text=ANSWER), Continues(ANSWER))
        r.spare.script(NO_PREFILL)
        answer = r.ask(dialect)
        assert answer == Answer(ANSWER, None, "primary/model-a")
        # The spare was asked first and refused; the refusal never reached the client.
        assert r.spare.requests[-1].json["messages"][-1]["content"] == prefix(3)
        assert r.primary.requests[-1].json["messages"][-1]["content"] == prefix(3)
        assert not r.gw.gateway.prefill.continues("spare/model-b")


# (e) A flapping primary, under a sequence of requests.


@dialects
def test_a_flapping_primary_never_costs_a_client_a_word(tmp_path: Path, dialect: Dialect) -> None:
    clock = FakeClock()
    with rig(tmp_path, dialect.kind, clock=clock, cooldown_s=1.0) as r:
        whole = Continues(ANSWER)
        r.primary.script(
            whole, cut_after(dialect, 2), whole, Fail(500, "boom"), whole,
            cut_after(dialect, 5), ErrorAfterHandshake(code="server_error", message="boom"),
            whole,
        )  # fmt: skip
        r.spare.script(whole)
        served = []
        for _ in range(13):  # a request every 0.6 s on the gateway's clock
            answer = r.ask(dialect)
            assert (answer.text, answer.error) == (ANSWER, None)
            served.append(answer.path.split("/")[0])
            clock.advance(0.6)
        # Each failure cools the primary for a second: a failure before any word goes to the
        # spare, and so does the next request; the one after probes the primary again. A
        # stream cut mid-answer stays the primary's (its path), finished by the spare. (The
        # path that broke is cooled just after the continued answer's end went out: a next
        # request that overtakes it may still find the primary open. So only the shape.)
        assert "spare" in served
        assert served[-2:] == ["primary", "primary"]  # the primary has its traffic back
        prefills = [q.json["messages"][-1] for q in r.spare.requests]
        assert [m["content"] for m in prefills if m["role"] == "assistant"] == [
            prefix(2),
            prefix(5),
        ]


# The ledger: a continued request's row carries both attempts' tokens and the cost of both.


@dialects
def test_a_continued_row_carries_both_attempts_tokens_and_their_cost(
    tmp_path: Path, dialect: Dialect
) -> None:
    prices = {"model-a": {"input": 3.0, "output": 15.0}, "model-b": {"input": 1.0, "output": 5.0}}
    with rig(tmp_path, dialect.kind, top={"prices": prices}) as r:
        r.primary.script(cut_after(dialect, 3))
        r.spare.script(Continues(ANSWER, usage=(40, 7)))
        assert r.ask(dialect).text == ANSWER
    [row] = r.rows()
    notes = json.loads(row["notes"])
    # The broken leg never said its output: estimated at four characters a token.
    broken_out = math.ceil(len(prefix(3)) / 4)
    assert row["tokens_out"] == broken_out + 7
    broken_in = row["tokens_in"] - 40
    assert broken_in > 0
    expected = (broken_in * 3.0 + broken_out * 15.0 + 40 * 1.0 + 7 * 5.0) / 1_000_000
    assert row["cost_usd"] == pytest.approx(expected)
    assert any(note.startswith("estimated tokens: primary/model-a") for note in notes)
    assert any("continued on spare/model-b" in note for note in notes)


# Random cut points: the assembled text is the upstream's answer, whatever the word.

WORDS = st.lists(
    st.sampled_from(["alpha", "beta", "gamma", "x", "longer-word", "42", "naïve", "日本"]),
    min_size=2,
    max_size=10,
)


@pytest.fixture(scope="module", params=DIALECTS, ids=str)
def shared_rig(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Dialect, Rig]]:
    dialect = request.param
    with rig(tmp_path_factory.mktemp(dialect.name), dialect.kind) as r:
        yield dialect, r


@settings(
    max_examples=10,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(words=WORDS, data=st.data())
def test_for_any_cut_point_the_client_assembles_the_upstreams_answer(
    shared_rig: tuple[Dialect, Rig], words: list[str], data: st.DataObject
) -> None:
    dialect, r = shared_rig
    at = data.draw(st.integers(min_value=1, max_value=len(words) - 1), label="cut after")
    full = " ".join(words)
    r.primary.script(cut_after(dialect, at, full))
    r.spare.script(Continues(full))
    assert r.ask(dialect) == Answer(full, None, "primary/model-a")
