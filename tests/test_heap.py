"""What a served request leaves for the garbage collector: nothing.

Reference counting frees what a request used as it ends, unless the objects form a cycle; a
cycle waits for a collection, and a collection walks every object in its generation. A
gateway serving thousands of requests a second would spend its time there
(`turnout.edge.heap`, docs/performance.md).
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import openai
import pytest

from tests.fakes import Fail, Reply
from tests.gateway import gateway_over


@contextmanager
def garbage_of_turnout() -> Iterator[list[str]]:
    """The types, defined by turnout, of the objects that only a collection could free while
    the block ran (filled in when it ends; other libraries' cycles are not counted)."""
    found: list[str] = []
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        yield found
        gc.collect()
    finally:
        gc.set_debug(0)
        kept, gc.garbage[:] = list(gc.garbage), []
    found += sorted(
        {type(o).__qualname__ for o in kept if type(o).__module__.startswith("turnout")}
    )


def test_requests_served_whole_streamed_and_failed_over_leave_no_cycles() -> None:
    with gateway_over("openai", "anthropic", route="m") as (gw, [first, second]):
        client = openai.OpenAI(base_url=gw.openai_base, api_key="k", max_retries=0)
        ask: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
        first.script(Reply(text="warm"))
        client.chat.completions.create(**ask)  # what the first request loads is not garbage
        with garbage_of_turnout() as garbage:
            for _ in range(5):
                first.script(Reply(text="whole"))
                client.chat.completions.create(**ask)
                first.script(Reply(text="streamed"))
                list(client.chat.completions.create(**ask, stream=True))
                first.script(Fail(529, '{"error": {"message": "Overloaded"}}'))
                second.script(Reply(text="translated"))
                client.chat.completions.create(**ask)
        assert len(second.requests) >= 5  # failed over (and then sent there while cooling down)
    assert garbage == []


def test_requests_refused_by_every_path_or_by_the_gateway_leave_no_cycles() -> None:
    with gateway_over("openai", "openai", route="m") as (gw, [first, second]):
        client = openai.OpenAI(base_url=gw.openai_base, api_key="k", max_retries=0)
        ask: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
        first.script(Reply(text="warm"))
        client.chat.completions.create(**ask)
        with garbage_of_turnout() as garbage:
            for status in (400, 401, 429, 500):
                first.script(Fail(status, '{"error": {"message": "no"}}'))
                second.script(Fail(status, '{"error": {"message": "no"}}'))
                with pytest.raises(openai.APIStatusError):
                    client.chat.completions.create(**ask)
                with pytest.raises(openai.BadRequestError):  # refused before any path
                    client.chat.completions.create(model="m", messages=[])
    assert garbage == []


SETTLED_THEN_CYCLE = """
import gc, weakref
from turnout.edge.heap import YOUNG_THRESHOLD, settle_startup_heap

class Node:
    pass

kept = [Node() for _ in range(1000)]  # what startup loads and keeps
settle_startup_heap()
frozen = gc.get_freeze_count()
loop = Node(); loop.me = loop  # a reference cycle made while serving
gone = []
weakref.finalize(loop, gone.append, True)
del loop
gc.collect()
print(frozen >= len(kept), gc.get_threshold()[0] == YOUNG_THRESHOLD, gone == [True])
"""


def test_the_startup_heap_is_left_alone_and_later_cycles_are_still_collected() -> None:
    """Collections that walked every object startup loaded took a third of the gateway's
    time under load; settling them must not stop garbage made while serving from going."""
    done = subprocess.run(
        [sys.executable, "-c", SETTLED_THEN_CYCLE],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert done.stdout.split() == ["True", "True", "True"]


FREED_THEN_ALLOCATED = """
import sys
from turnout.edge.heap import fix_mmap_threshold

def own_pages():
    '''Anonymous mappings of 8 MiB or more: large blocks in pages of their own.'''
    count = 0
    for line in open("/proc/self/maps"):
        fields = line.split()
        low, high = (int(end, 16) for end in fields[0].split("-"))
        count += len(fields) == 5 and high - low >= 8 << 20
    return count

fixed = fix_mmap_threshold() if sys.argv[1] == "fixed" else False
before = own_pages()
first = bytearray(16 << 20)  # a large body, freed: glibc alone would now raise its threshold
del first
second = bytearray(8 << 20)  # the next one
print(fixed, own_pages() - before)
"""


def test_a_large_block_after_a_larger_one_was_freed_still_gets_pages_of_its_own() -> None:
    """Else it comes from the heap, which seldom shrinks: resident memory climbed in steps
    under a soak whose upstream sent bodies of several MB now and then."""
    if not sys.platform.startswith("linux"):
        pytest.skip("the threshold is glibc's")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}

    def run(mode: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", FREED_THEN_ALLOCATED, mode],
            capture_output=True, text=True, env=env, timeout=60, check=True,
        )  # fmt: skip
        return done.stdout.strip()

    assert run("dynamic") == "False 0"  # glibc's own way: the second block is in the heap
    assert run("fixed") == "True 1"


BODIES_ONE_AFTER_ANOTHER = """
import resource, sys
from turnout.edge.heap import fix_mmap_threshold

fixed = fix_mmap_threshold() if sys.argv[1] == "fixed" else False
def request():
    body = bytearray(1_000_000)  # an agent's request of 1 MB, and two copies of it
    copies = [bytes(body), bytes(body)]
    del body, copies
request()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    request()
print(fixed, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def test_requests_of_a_megabyte_one_after_another_reuse_the_heap() -> None:
    """With the trim threshold left at 128 KiB, the heap's top was handed back after every
    agent-sized request and the next one's copies took their pages from the kernel again."""
    if not sys.platform.startswith("linux"):
        pytest.skip("the thresholds are glibc's")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    done = subprocess.run(
        [sys.executable, "-c", BODIES_ONE_AFTER_ANOTHER, "fixed"],
        capture_output=True, text=True, env=env, timeout=60, check=True,
    )  # fmt: skip
    fixed, faults = done.stdout.split()
    assert fixed == "True"
    assert int(faults) < 100  # a megabyte in fresh pages is about 245 faults, five 3,700
