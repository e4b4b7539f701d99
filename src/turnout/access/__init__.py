"""Access: who may call and how much (gateway keys, budgets, rate windows, admission).
No HTTP here; the edge turns a refusal into its client's dialect."""
