"""Translation between the Anthropic Messages and OpenAI Chat Completions dialects.

Pure functions and incremental stream translators, no I/O: requests (with what the target
cannot honour named in `Translated.dropped`), whole responses, and streams.
"""

from turnout.translate.requests import (
    Translated,
    anthropic_to_openai_request,
    openai_to_anthropic_request,
)
from turnout.translate.responses import (
    anthropic_to_openai_response,
    openai_to_anthropic_response,
)
from turnout.translate.streams import (
    AnthropicToOpenAIStream,
    OpenAIToAnthropicStream,
    UpstreamStreamError,
)

__all__ = [
    "AnthropicToOpenAIStream",
    "OpenAIToAnthropicStream",
    "Translated",
    "UpstreamStreamError",
    "anthropic_to_openai_request",
    "anthropic_to_openai_response",
    "openai_to_anthropic_request",
    "openai_to_anthropic_response",
]
