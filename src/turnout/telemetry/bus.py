"""The record bus: every finished request is published once, and each consumer subscribes.

The ledger is one subscriber and the counters behind `/metrics` and the dashboard another, so
the counters work with the ledger off and neither knows of the other. Subscribers run on the
request path: each must be cheap and must not raise (a journal append, a few dict bumps).
"""

from __future__ import annotations

from collections.abc import Callable

from turnout.ledger.record import RequestRecord

Subscriber = Callable[[RequestRecord], None]


class RecordBus:
    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    def publish(self, record: RequestRecord) -> None:
        for subscriber in self._subscribers:
            subscriber(record)
