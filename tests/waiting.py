"""The one way tests wait for something to become true: on the thing itself, never a sleep.

`wait_until` polls a condition; its deadline only bounds a failure (a process that never
comes up), so it is generous and never a margin a slow machine could miss.
"""

from __future__ import annotations

import time
from collections.abc import Callable

#: How long anything may take to become ready before the test fails: minutes, not a margin.
READY_WITHIN_S = 120.0
POLL_S = 0.02


def wait_until(
    condition: Callable[[], object],
    seconds: float = READY_WITHIN_S,
    what: str = "the condition",
    alive: Callable[[], bool] = lambda: True,
) -> None:
    """Return once `condition()` is truthy; fail at once when `alive()` turns false (the
    thing waited on has died), or after `seconds`."""
    deadline = time.monotonic() + seconds
    while not condition():
        if not alive():
            raise AssertionError(f"stopped before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {seconds:g} s")
        time.sleep(POLL_S)
