"""Telemetry: what happened to each request (its record and log line), the counters behind
`/metrics` and the dashboard's snapshot."""
