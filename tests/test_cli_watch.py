"""`turnout watch` redraws when the gateway's state changes: frames are counted
(`--iterations`), and the wait between two is where the test makes the change, so no frame
depends on how fast anything ran."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
import yaml
from rich.console import Console

from tests.fakes import Fail, Reply, RunningUpstream
from tests.gateway import PATH_KEY, RunningGateway, gateway_over, request
from turnout.cli.main import main
from turnout.cli.watch import frame_hint, watch

MODEL = "claude-sonnet-4-6"
RESET = 4102444800  # the provider's stated reset, in 2100: far past the gateway's probe cap
LIMIT = '{"type":"error","error":{"type":"rate_limit_error","message":"5-hour limit reached"}}'
REJECTED = {
    "anthropic-ratelimit-unified-status": "rejected",
    "anthropic-ratelimit-unified-5h-status": "rejected",
    "anthropic-ratelimit-unified-5h-utilization": "1.0",
    "anthropic-ratelimit-unified-5h-reset": str(RESET),
}
ASK = {"model": MODEL, "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
#: Rich moves the cursor up and erases lines to draw a frame over the last one.
REDRAW = re.compile(r"\x1b\[1A|\x1b\[2K")


@pytest.fixture
def sub_then_backup() -> Iterator[tuple[RunningGateway, list[RunningUpstream]]]:
    """A route over a subscription path that hits its 5-hour limit, then a backup."""
    with gateway_over(
        "anthropic",
        "anthropic",
        route=MODEL,
        models=[MODEL, MODEL],
        names=["sub", "backup"],
        defaults={"retries": 0},
    ) as (gw, ups):
        ups[0].script(Fail(429, LIMIT, REJECTED))
        ups[1].script(Reply(text="from the backup"))
        yield gw, ups


def gated_between_frames(gw: RunningGateway, console: Console) -> list[float]:
    """Two frames; between them one request, which gates the subscription path. The waits."""
    waits: list[float] = []

    def wait(seconds: float) -> None:
        waits.append(seconds)
        assert request(gw.url, "POST", "/v1/messages", ASK).status == 200

    watch(gw.gateway.config, gw.url, None, every=2.0, iterations=2, console=console, wait=wait)
    return waits


def sub_row(frame: str) -> str:
    """The paths table's row of the subscription path (the failovers table names it too)."""
    [row] = [line for line in frame.splitlines() if line.startswith("│ sub/claude-sonnet-4-6 ")]
    return row


def test_each_frame_follows_the_last_when_written_to_a_file(
    sub_then_backup: tuple[RunningGateway, list[RunningUpstream]],
) -> None:
    gw, ups = sub_then_backup
    out = io.StringIO()
    waits = gated_between_frames(gw, Console(file=out, width=240))
    assert waits == [2.0]  # one wait, between the two frames, of `--every`
    assert len(ups[0].requests) == 1
    first, second = out.getvalue().split("turnout paths")[1:]
    assert "│ ok" in sub_row(first)
    assert "latest failures and failovers" not in first
    row = sub_row(second)
    assert "gated" in row
    assert "quota/subscription_window_limit" in row
    assert datetime.fromtimestamp(RESET).strftime("%a %H:%M") in row  # the provider's reset
    assert "5h 0% left (rejected)" in row
    assert "latest failures and failovers" in second
    assert "backup/claude-sonnet-4-6" in second.split("latest failures and failovers")[1]
    # A bounded watch ends by itself: each frame says which of how many it is, not "Ctrl-C".
    assert "frame 1 of 2" in first
    assert "frame 2 of 2" in second
    assert "Ctrl-C" not in out.getvalue()


def test_in_a_terminal_the_second_frame_is_drawn_over_the_first(
    sub_then_backup: tuple[RunningGateway, list[RunningUpstream]],
) -> None:
    gw, _ = sub_then_backup
    out = io.StringIO()
    gated_between_frames(gw, Console(file=out, width=240, force_terminal=True, color_system=None))
    shown = out.getvalue()
    frames = shown.split("turnout paths")[1:]
    assert "│ ok" in sub_row(frames[0])
    assert REDRAW.search(frames[0])  # the cursor goes back up over the first frame
    assert "gated" in sub_row(frames[-1])
    assert datetime.fromtimestamp(RESET).strftime("%a %H:%M") in sub_row(frames[-1])


def test_turnout_watch_stops_after_its_iterations(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    sub_then_backup: tuple[RunningGateway, list[RunningUpstream]],
) -> None:
    gw, ups = sub_then_backup
    config_file = tmp_path / "turnout.yaml"
    sub = {"kind": "anthropic", "base_url": "http://127.0.0.1:9", "api_key": "${KEY}"}
    config = {"providers": {"sub": sub}, "routes": {MODEL: [f"sub/{MODEL}"]}}
    config_file.write_text(yaml.safe_dump(config))
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("KEY", PATH_KEY)
    assert (
        main(["watch", "--config", str(config_file), "--gateway", gw.url, "--iterations", "1"]) == 0
    )
    shown = capsys.readouterr().out
    assert shown.count("turnout paths") == 1
    assert "frame 1 of 1" in shown
    assert "Ctrl-C" not in shown
    assert "│ ok" in sub_row(shown)
    assert ups[0].requests == []  # watching asks the gateway, never a provider


def test_an_endless_watch_says_how_to_stop_it() -> None:
    assert frame_hint(0, None) == frame_hint(41, None) == "Ctrl-C to stop"
    assert frame_hint(2, 3) == "frame 3 of 3"
