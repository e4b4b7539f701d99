"""How the gateway's memory is managed: large blocks handed back, the startup heap left alone.

Both are process-wide settings made once: the first before any worker forks (they inherit
it), the second in each worker once it has loaded what it keeps for its whole life.
"""

from __future__ import annotations

import ctypes
import gc
import os
import sys

__all__ = [
    "MMAP_THRESHOLD_BYTES",
    "TRIM_THRESHOLD_BYTES",
    "YOUNG_THRESHOLD",
    "fix_mmap_threshold",
    "settle_startup_heap",
]

#: Blocks at least this large get pages of their own, handed back to the system when freed.
#: Above the largest normal request (1 MB of conversation, and the buffers copied from it).
MMAP_THRESHOLD_BYTES = 2 << 20
#: Free memory at the top of the heap kept for the next request rather than handed back.
TRIM_THRESHOLD_BYTES = 8 << 20
_M_TRIM_THRESHOLD = -1  # glibc's mallopt parameters
_M_MMAP_THRESHOLD = -3


def fix_mmap_threshold() -> bool:
    """Keep large blocks out of the heap, so memory they held is given back when they go,
    and keep the heap's own free top for the next request's body.

    glibc puts a large block in pages of its own, but each time one is freed it raises that
    threshold to the freed block's size (up to 32 MiB), so later large blocks (an upstream
    body of up to `max_response_bytes`, decompressed and parsed) come from the heap, which
    seldom shrinks: resident memory then climbs in steps for as long as the gateway runs,
    with no Python object left behind. A threshold set once stays fixed. Setting it also
    fixes the trim threshold at glibc's 128 KiB, which handed the heap's top back after
    every agent-sized request, so the next one's copies of its body took their pages again
    from the kernel (about 950 page faults and 2 ms of CPU per 1 MB request): it is fixed
    at `TRIM_THRESHOLD_BYTES` instead. Not on other C libraries, nor when
    `MALLOC_MMAP_THRESHOLD_` already says; True if it was set."""
    if not sys.platform.startswith("linux") or "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # a C library without it
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    if "MALLOC_TRIM_THRESHOLD_" not in os.environ:
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))


#: Container allocations between two collections of the youngest generation (CPython's
#: default is 700). A request allocates a few hundred, all freed by reference counting as it
#: ends; at the default, dozens of requests in flight set off a collection every few requests
#: and older generations often enough that each pass walks every live object.
YOUNG_THRESHOLD = 20_000


def settle_startup_heap() -> None:
    """Exempt what startup loaded (config, rule tables, catalogs, compiled patterns: tens of
    thousands of objects that live as long as the process) from every later collection, and
    collect the young generation less often.

    Measured with `scripts/bench_relay.py`: collections walking that heap took about a third
    of the gateway's time under load, and more at 64 connections than at 16. Reference cycles
    made later are still found, by the same collector, a little later."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
