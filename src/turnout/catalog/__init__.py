"""What turnout knows about models without asking: context windows (and, later, prices)."""

from turnout.catalog.models import context_window

__all__ = ["context_window"]
