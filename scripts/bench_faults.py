"""Client wait per fault: each fault a stream meets, once per client dialect, through a real
`turnout serve` with its default settings (the config names only providers and routes) over
fake upstreams on 127.0.0.1, read by each dialect's own SDK.

    python scripts/bench_faults.py [--dialects chat,messages,responses,gemini]

Prints a Markdown table: per fault and dialect, the seconds the client waited for the whole
answer and how it ended: whole (from the path it asked first, or from the spare it failed over
to), continued (a continuation finished the answer the client was reading) or error (an error
event in its dialect). Any other ending (a text not the upstream's, a quiet cut, an event out of
protocol) is printed as such. A measurement, not a test: the figures are the defaults' own
deadlines (10 s first event and 30 s idle on a new path, 2 s and 5 s once a path is known).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from tests.dialect_clients import DIALECTS, Answer, Dialect
from tests.fakes import (
    Continues,
    Cut,
    ErrorAfterHandshake,
    Fail,
    RecordedRequest,
    RunningUpstream,
    Stall,
)

from bench_relay import free_port, process

ANSWER = "alpha beta gamma delta epsilon zeta eta theta"
#: About 200k prompt tokens at four bytes a token.
LARGE_PROMPT = "word " * 160_000
#: Far beyond any default deadline; the fake ends it when the gateway lets go.
STALL_S = 200.0
NO_PREFILL = Fail(
    400,
    '{"type":"error","error":{"type":"invalid_request_error","message":"This model does not '
    'support assistant message prefill. The conversation must end with a user message."}}',
)
#: Which provider entry plays each upstream kind (all on the one primary fake).
PRIMARY = {
    "openai": "as-openai",
    "anthropic": "as-anthropic",
    "responses": "as-responses",
    "gemini": "as-gemini",
}
HANDSHAKE = {"openai": 1, "anthropic": 3, "responses": 4, "gemini": 0}


@dataclass
class Fakes:
    primary: RunningUpstream
    spare: RunningUpstream
    refuser: RunningUpstream

    def all(self) -> list[RunningUpstream]:
        return [self.primary, self.spare, self.refuser]


@dataclass(frozen=True)
class Fault:
    """One fault: its name, the route (second path), the primary's kind (the client's own
    wire, or a kind that continues), what the fakes do, the prompt, the warm-up answers that
    teach the gateway the path's pace, and how many requests it spans."""

    name: str
    script: Callable[[Fakes, Dialect], None]
    second: str = "spare"
    continuing_primary: bool = False
    prompt: str = "go"
    warm_up: int = 0
    requests: int = 1

    def kind(self, dialect: Dialect) -> str:
        return dialect.continuing if self.continuing_primary else dialect.kind

    def route(self, dialect: Dialect) -> str:
        """A route (and so paths) of its own: what one fault teaches a path stays there."""
        return f"{dialect.name}-" + re.sub(r"[^a-z0-9]+", "-", self.name.lower()).strip("-")


def _whole(f: Fakes, d: Dialect) -> None:
    f.primary.script(Continues(ANSWER))


def _slow_first(f: Fakes, d: Dialect) -> None:
    f.primary.script(Stall(before_first_byte_s=STALL_S, text="never sent"))
    f.spare.script(Continues(ANSWER))


def _slow_large(f: Fakes, d: Dialect) -> None:
    # Slower than the 10 s a one-line prompt gets on a new path; a 200k-token prompt has 110 s.
    f.primary.script(Stall(before_first_byte_s=15, stall_s=0, text=ANSWER))


def _cut(f: Fakes, d: Dialect) -> None:
    f.primary.script(Cut(after_events=HANDSHAKE[d.kind] + 3, text=ANSWER))
    f.spare.script(Continues(ANSWER))


def _stall(f: Fakes, d: Dialect) -> None:
    f.primary.script(Stall(after_events=HANDSHAKE[d.kind] + 3, stall_s=STALL_S, text=ANSWER))
    f.spare.script(Continues(ANSWER))


def _nobody(f: Fakes, d: Dialect) -> None:
    # The spare does not continue (prefill: none); the primary, where it could, refuses.
    f.primary.script(Cut(after_events=HANDSHAKE[d.kind] + 3, text=ANSWER), NO_PREFILL)


def _refused(f: Fakes, d: Dialect) -> None:
    f.primary.script(Cut(after_events=HANDSHAKE[d.continuing] + 3, text=ANSWER), Continues(ANSWER))
    f.refuser.script(NO_PREFILL)


def _flapping(f: Fakes, d: Dialect) -> None:
    whole, cut = Continues(ANSWER), Cut(after_events=HANDSHAKE[d.kind] + 2, text=ANSWER)
    f.primary.script(
        whole, cut, Fail(500, "boom"), whole, cut,
        ErrorAfterHandshake(code="server_error", message="boom"), whole,
    )  # fmt: skip
    f.spare.script(whole)


FAULTS = [
    Fault("none", _whole),
    Fault("slow first token, one-line prompt, new path", _slow_first),
    Fault("slow first token, one-line prompt, known path", _slow_first, warm_up=5),
    Fault("slow first token (15 s), 200k-token prompt", _slow_large, prompt=LARGE_PROMPT),
    Fault("cut after 3 words", _cut),
    Fault("stall after 3 words, new path", _stall),
    Fault("stall after 3 words, known path", _stall, warm_up=5),
    Fault("cut, fallback refuses the prefill", _refused, "refuser", continuing_primary=True),
    Fault("cut, nobody can continue", _nobody, "spare-none"),
    Fault("flapping primary, 10 requests (worst)", _flapping, requests=10),
]


def config(fakes: Fakes, dialects: list[Dialect], ledger: Path) -> str:
    """Only providers and routes: every setting is turnout's default."""
    primary, spare, refuser = (up.url for up in fakes.all())
    key = {"api_key": "${FAKE_KEY}"}
    providers = {
        "as-openai": {"kind": "openai", "base_url": primary + "/v1", **key},
        "as-anthropic": {"kind": "anthropic", "base_url": primary, **key},
        "as-responses": {"kind": "openai", "wire": "responses", "base_url": primary + "/v1", **key},
        "as-gemini": {"kind": "gemini", "base_url": primary, **key},
        "spare": {"kind": "anthropic", "base_url": spare, **key},
        "spare-none": {"kind": "anthropic", "base_url": spare, "prefill": "none", **key},
        "refuser": {"kind": "anthropic", "base_url": refuser, **key},
    }
    routes = {
        fault.route(d): [
            f"{PRIMARY[fault.kind(d)]}/{fault.route(d)}-a",
            f"{fault.second}/{fault.route(d)}-b",
        ]
        for d in dialects
        for fault in FAULTS
    }
    document = {"ledger": str(ledger), "providers": providers, "routes": routes}
    return yaml.safe_dump(document, sort_keys=False)


def prefilled(request: RecordedRequest) -> bool:
    messages = request.json.get("messages") if isinstance(request.json, dict) else None
    return bool(messages) and isinstance(messages, list) and messages[-1].get("role") == "assistant"


def run(url: str, fakes: Fakes, dialect: Dialect, fault: Fault) -> str:
    route = fault.route(dialect)
    fakes.primary.script(Continues(ANSWER))
    for _ in range(fault.warm_up):
        dialect.stream(url, route, "go")
    for up in fakes.all():
        up.script(Continues(ANSWER))
    fault.script(fakes, dialect)
    worst, endings = 0.0, []
    for _ in range(fault.requests):
        seen = [len(up.requests) for up in fakes.all()]
        started = time.perf_counter()
        try:
            answer: Answer | None = dialect.stream(url, route, fault.prompt)
        except AssertionError as exc:
            answer, ending = None, f"out of protocol ({exc})"
        waited = time.perf_counter() - started
        worst = max(worst, waited)
        if answer is not None:
            new = [q for up, n in zip(fakes.all(), seen, strict=True) for q in up.requests[n:]]
            if answer.error is not None:
                ending = "error"
            elif answer.text != ANSWER:
                ending = f"wrong text {answer.text!r}"
            elif any(prefilled(q) for q in new):
                ending = "continued"
            else:
                ending = "whole" if answer.path.endswith("-a") else "whole, from the spare"
        endings.append(ending)
    if fault.requests == 1:
        return f"{worst:.1f} s {endings[0]}"
    counts = {e: endings.count(e) for e in dict.fromkeys(endings)}
    return f"{worst:.1f} s; " + ", ".join(f"{n} {e}" for e, n in counts.items())


@contextmanager
def gateway(fakes: Fakes, dialects: list[Dialect]) -> Iterator[str]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "faults.yaml"
        path.write_text(config(fakes, dialects, Path(tmp) / "ledger.sqlite3"))
        port = free_port()
        command = [sys.executable, "-m", "turnout", "serve", "--config", str(path)]
        os.environ.setdefault("FAKE_KEY", "sk-fake")  # the fakes take any key
        with process([*command, "--port", str(port)], port):
            yield f"http://127.0.0.1:{port}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dialects", default=",".join(d.name for d in DIALECTS))
    args = parser.parse_args()
    chosen = [d for d in DIALECTS if d.name in args.dialects.split(",")]
    with ExitStack() as stack:
        fakes = Fakes(*(stack.enter_context(RunningUpstream()) for _ in range(3)))
        url = stack.enter_context(gateway(fakes, chosen))
        print("| fault | " + " | ".join(d.name for d in chosen) + " |")
        print("| --- " * (len(chosen) + 1) + "|")
        for fault in FAULTS:
            cells = [run(url, fakes, d, fault) for d in chosen]
            print(f"| {fault.name} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
