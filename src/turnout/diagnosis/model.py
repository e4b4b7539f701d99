"""The result of a diagnosis: what went wrong, whether to retry, and what a person should do."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from turnout.diagnosis.taxonomy import Category


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """One provider error, classified and explained.

    `retryable` means the same request to the same target may succeed after a wait
    (`retry_after_s` when the provider said how long). `failover` means another path may
    serve the request; it is false when the request itself is at fault.
    """

    category: Category
    code: str
    retryable: bool
    failover: bool
    retry_after_s: float | None
    title: str
    explanation: str
    actions: tuple[str, ...]
    wont_help: tuple[str, ...]
    rule: str | None = None
    status: int | None = None
    provider: str | None = None
    model: str | None = None
    endpoint: str | None = None
    message: str | None = None
    lang: str = "en"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping with the stable field names of `turnout explain --json`."""
        data = asdict(self)
        data["category"] = self.category.value
        data["actions"] = list(self.actions)
        data["wont_help"] = list(self.wont_help)
        return data
