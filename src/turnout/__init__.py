"""turnout: a model gateway that says why a provider path failed and moves traffic to a path
that works."""

from turnout.diagnosis import Category, Diagnosis, diagnose

__version__ = "0.1.0"

__all__ = ["Category", "Diagnosis", "__version__", "diagnose"]
