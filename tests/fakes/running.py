"""A FakeUpstream on its own thread and event loop, for sync tests and sync clients."""

from __future__ import annotations

from tests.fakes.serving_thread import ServingThread
from tests.fakes.steps import Step
from tests.fakes.upstream import FakeUpstream, RecordedRequest


class RunningUpstream(ServingThread):
    """A fake upstream serving in a daemon thread; see `ServingThread`."""

    thread_name = "fake upstream"

    def __init__(self) -> None:
        self._fake = FakeUpstream()
        super().__init__()

    async def start_servers(self) -> None:
        await self._fake.start()

    async def stop_servers(self) -> None:
        await self._fake.stop()

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
