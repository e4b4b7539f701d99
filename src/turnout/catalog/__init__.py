"""What turnout knows about models without asking: context windows and prices."""

from turnout.catalog.models import context_window
from turnout.catalog.prices import Price, price_of

__all__ = ["Price", "context_window", "price_of"]
