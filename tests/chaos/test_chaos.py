"""Proof under fire: bounded chaos load through a real `turnout serve`, with one healthy path.

`make chaos` runs the long version (scripts/chaos.py); this is the short one CI runs.
"""

from __future__ import annotations

import http.client
import json
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import yaml

from tests.chaos.load import DIALECTS, ChaosPlan, Report, machine_pace, run_chaos
from tests.chaos.upstream import FAULTS, ChaosFarm, Mix, answer_text, end_marker
from tests.clients import Clients
from tests.fakes import Cut, Reply, Stall
from tests.fakes.steps import Step
from tests.gateway import RunningGateway, gateway_over, running_gateway

CI_REQUESTS = 600
CI_SECONDS = 150.0


@pytest.fixture(scope="module")
def report() -> Report:
    plan = ChaosPlan(requests=CI_REQUESTS, seconds=CI_SECONDS, seed=20, pace=machine_pace())
    result = run_chaos(plan)
    print(result.details())
    print(result.summary())
    return result


def test_the_run_covered_every_fault_and_every_dialect_streamed_or_not(report: Report) -> None:
    assert len(report.outcomes) == CI_REQUESTS  # the time bound was not what stopped it
    kinds = {(o.dialect, o.stream) for o in report.outcomes}
    assert kinds == {(d, s) for d in DIALECTS for s in (True, False)}
    rolled = set(report.faults())
    # A 1% fault may miss a short run; the common ones must all have been exercised.
    assert {"429", "429_retry_after", "500", "502", "503", "529", "cut", "reset"} <= rolled
    assert len(rolled) >= len(FAULTS) - 3
    assert any(a.continuation for a in report.arrivals), "no stream was continued"


def test_clients_that_hang_up_are_recorded_as_gone(report: Report) -> None:
    hung_up = {o.request_id for o in report.outcomes if o.verdict == "hung_up"}
    assert hung_up, "no client hung up"
    gone = {row["id"] for row in report.ledger_rows if row["outcome"] == "client_gone"}
    assert gone <= hung_up  # only a client that hung up is ever recorded as gone
    assert gone, "no hang-up reached the gateway before the answer was whole"


def test_oversized_and_compressed_bodies_are_refused_and_the_answer_still_comes(
    report: Report,
) -> None:
    hostile = {a.nonce for a in report.arrivals if a.fault in ("huge", "bomb")}
    assert hostile, "no oversized body or gzip bomb was rolled"
    verdicts = Counter(o.verdict for o in report.outcomes if o.nonce in hostile)
    assert set(verdicts) <= {"ok", "hung_up"}
    # None was taken for an answer: each was refused at a cap, and the answer (or the rest of
    # it) came from a later call, on another path or by a continuation.
    stayed = {o.nonce for o in report.outcomes if o.verdict == "ok"}
    for refused in [a for a in report.arrivals if a.fault in ("huge", "bomb")]:
        if refused.nonce in stayed:
            later = [a for a in report.arrivals if a.nonce == refused.nonce and a.at > refused.at]
            assert later, f"{refused.nonce}: nothing after the {refused.fault} body"
    gzipped = [a for a in report.arrivals if a.fault == "gzip"]
    assert gzipped, "no sound gzip answer was rolled"
    assert any((a.upstream, a.seq) in report.farm.whole for a in gzipped)


def test_a_ledger_disk_that_fills_and_frees_loses_no_record(report: Report) -> None:
    assert report.disk_fills >= 1
    # A full disk cut a journal line short; the reader set the torn line aside...
    assert report.rejected_lines >= 1
    # ...and every request, served while the disk was full or not, is in the ledger once.
    assert report.ledger_problems() == []
    assert [o for o in report.outcomes if o.verdict == "failed"] == []


def test_with_a_healthy_path_no_client_request_fails(report: Report) -> None:
    assert [o for o in report.outcomes if o.verdict == "failed"] == []


def test_no_truncated_answer_is_presented_as_complete(report: Report) -> None:
    assert report.count("truncated") == 0
    assert report.count("garbled") == 0
    for outcome in report.outcomes:
        if outcome.verdict == "ok":
            assert outcome.text.endswith(end_marker(outcome.nonce))


def test_no_request_is_answered_twice(report: Report) -> None:
    assert report.duplicated == 0
    ids = [o.request_id for o in report.outcomes]
    assert None not in ids
    assert len(set(ids)) == len(ids)


def test_no_request_is_paid_for_twice(report: Report) -> None:
    assert report.served_twice() == []


def test_the_ledger_matches_what_clients_observed(report: Report) -> None:
    assert report.ledger_problems() == []
    assert "ledger matches" in report.summary()


def test_retries_honour_retry_after_and_the_budget(report: Report) -> None:
    assert report.retry_problems() == []
    retried_after_wait = [
        a for a in report.arrivals if a.retry_after_s is not None and not a.continuation
    ]
    assert retried_after_wait, "no 429 with Retry-After was rolled"


def test_the_gateway_logged_no_internal_error(report: Report) -> None:
    assert report.internal_errors() == []


# The chaos upstream itself: a continuation gets exactly the rest of the answer.


def test_the_chaos_upstream_answers_a_prefill_with_the_remainder() -> None:
    nonce = "0123456789abcdef"
    full = answer_text(nonce)
    prefill = full[:20].rstrip()
    with ChaosFarm({"up": Mix.none()}) as farm:
        port = farm.upstreams["up"].port
        body = {
            "model": "m",
            "max_tokens": 50,
            "messages": [
                {"role": "user", "content": f"nonce={nonce}"},
                {"role": "assistant", "content": [{"type": "text", "text": prefill}]},
            ],
        }
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request(
            "POST", "/v1/messages", json.dumps(body), {"content-type": "application/json"}
        )
        answer = json.loads(connection.getresponse().read())
        connection.close()
        [arrival] = farm.arrivals()
    assert prefill + answer["content"][0]["text"] == full
    assert (arrival.nonce, arrival.continuation, arrival.fault) == (nonce, True, "ok")


# A cut or stall right after the first event that carries no text, with a healthy
# anthropic-kind path (it accepts a prefill) next: nothing of the answer reached the client,
# so the request fails over and the client reads the whole answer.


@contextmanager
def primary_then_spare(kind: str, step: Step) -> Iterator[RunningGateway]:
    with gateway_over(
        kind, "anthropic", route="m", names=["primary", "spare"], models=["model-a", "model-b"],
        defaults={"retries": 0, "cooldown_s": 0, "read_timeout_s": 0.5},
    ) as (gateway, [primary, spare]):  # fmt: skip
        primary.script(step)
        spare.script(Reply(text="the whole answer"))
        yield gateway


#: The event after which nothing but structure has reached the client: Anthropic's
#: message_start, ping, content_block_start; OpenAI's role chunk.
FIRST_EMPTY_EVENT = {"anthropic": 3, "openai": 1}


@pytest.mark.parametrize("kind", ["anthropic", "openai"])
@pytest.mark.parametrize("fault", ["cut", "stall"])
@pytest.mark.parametrize("client", ["anthropic", "openai"])
def test_a_stream_broken_before_any_text_is_served_by_the_next_path(
    clients: Clients, kind: str, fault: str, client: str
) -> None:
    events = FIRST_EMPTY_EVENT[kind]
    step: Step = (
        Cut(after_events=events) if fault == "cut" else Stall(after_events=events, stall_s=3)
    )
    with primary_then_spare(kind, step) as gw:
        if client == "anthropic":
            with clients.anthropic(gw.url).messages.stream(
                model="m", max_tokens=20, messages=[{"role": "user", "content": "hi"}]
            ) as stream:
                text = "".join(stream.text_stream)
        else:
            chunks = clients.openai(gw.url).chat.completions.create(
                model="m", messages=[{"role": "user", "content": "hi"}], stream=True
            )
            text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "the whole answer"


# The chaos run's one failure on a loaded machine: an OpenAI client's stream from an
# Anthropic-kind path went silent after its first text, the read timeout cut it, and it was
# not continued. With the route of the run and continuing paths that answer in time, every
# such stream is finished whole, whatever point the stall came at: the path that stalled has
# no retry left (retries: 0), so the next path that takes a prefill continues it.


def test_a_stream_that_stalls_after_its_first_text_is_continued_whole(clients: Clients) -> None:
    mixes = {"stalls": Mix({"stall": 1.0}, stall_s=3.0), "plain": Mix.none(), "spare": Mix.none()}
    with ChaosFarm(mixes, seed=4) as farm:
        config = {
            "defaults": {"retries": 0, "cooldown_s": 0, "read_timeout_s": 0.5},
            "providers": {
                "stalls": {"kind": "anthropic", "base_url": farm.url("stalls")},
                "plain": {"kind": "openai", "base_url": farm.url("plain") + "/v1"},
                "spare": {"kind": "anthropic", "base_url": farm.url("spare")},
            },
            "routes": {"m": ["stalls/model-a", "plain/model-b", "spare/model-c"]},
        }
        with running_gateway(yaml.safe_dump(config)) as gw:
            client = clients.openai(gw.url)
            nonces = [f"{n:016x}" for n in range(6)]
            for nonce in nonces:
                chunks = client.chat.completions.create(
                    model="m",
                    messages=[{"role": "user", "content": f"nonce={nonce}"}],
                    stream=True,
                )
                text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
                assert text == answer_text(nonce)
        continued = [a for a in farm.arrivals() if a.continuation]
    assert continued, "no stall came after the first text"
    assert {a.upstream for a in continued} <= {"plain", "spare"}
