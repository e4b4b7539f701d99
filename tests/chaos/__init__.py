"""Chaos testing: fault-injecting upstreams and bounded load through a real gateway."""
