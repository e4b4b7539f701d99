"""A FakeUpstream on its own thread and event loop, for sync tests and sync clients."""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType

from tests.fakes.steps import Step
from tests.fakes.upstream import FakeUpstream, RecordedRequest

START_TIMEOUT_S = 10.0


class RunningUpstream:
    """Starts serving on construction; `close()` (or leaving a `with` block) stops it.

    The server lives in a daemon thread, so a test blocking on a sync client
    cannot starve it, and a forgotten `close()` cannot keep the process alive.
    """

    def __init__(self) -> None:
        self._fake = FakeUpstream()
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="fake-upstream", daemon=True)
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT_S):
            raise RuntimeError("fake upstream did not start in time")
        if self._failure is not None:
            raise RuntimeError("fake upstream failed to start") from self._failure

    @property
    def url(self) -> str:
        return self._fake.url

    @property
    def requests(self) -> list[RecordedRequest]:
        """The live list of requests received so far."""
        return self._fake.requests

    @property
    def models(self) -> list[str]:
        """The model ids GET /v1/models lists; mutable."""
        return self._fake.models

    def script(self, *steps: Step) -> None:
        """See `FakeUpstream.script`."""
        self._fake.script(*steps)

    def close(self) -> None:
        """Stop the server (cancelling stalled handlers) and join its thread; idempotent."""
        loop, closing = self._loop, self._closing
        if loop is not None and closing is not None and not loop.is_closed():
            loop.call_soon_threadsafe(closing.set)
        self._thread.join(START_TIMEOUT_S)

    def __enter__(self) -> RunningUpstream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported to the constructor, which raises it
            self._failure = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._closing = asyncio.Event()
        async with self._fake:
            self._ready.set()
            await self._closing.wait()
