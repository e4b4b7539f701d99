"""The ledger: every request and attempt, with tokens, cost and outcome, kept in SQLite or
PostgreSQL. Records are journaled on the request path (one append) and stored in batches off it.
"""
