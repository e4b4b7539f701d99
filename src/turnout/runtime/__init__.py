"""The runtime: the running gateway composed of config, providers, routing, access and
telemetry over the state that outlives a reload (gateway.py), the reload itself, key sync with
the ledger database and the shutdown drain. The edge serves it."""
