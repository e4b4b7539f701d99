"""The client-facing wire formats: OpenAI chat completions and Anthropic messages."""
