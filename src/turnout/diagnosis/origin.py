"""Where an error came from: the provider family and whether the target is a local server."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

#: Host fragments and the provider family they belong to; the first hit wins.
HOST_PROVIDERS: tuple[tuple[str, str], ...] = (
    ("api.anthropic.com", "anthropic"),
    ("claude.ai", "anthropic"),
    ("openai.azure.com", "azure"),
    ("azure.com", "azure"),
    ("api.openai.com", "openai"),
    ("generativelanguage.googleapis.com", "gemini"),
    ("aiplatform.googleapis.com", "vertex"),
    ("bedrock", "bedrock"),
    ("openrouter.ai", "openrouter"),
    ("api.deepseek.com", "deepseek"),
    ("api.groq.com", "groq"),
    ("api.mistral.ai", "mistral"),
    ("api.x.ai", "xai"),
    ("bigmodel.cn", "zhipu"),
    ("z.ai", "zhipu"),
    ("moonshot.cn", "moonshot"),
    ("moonshot.ai", "moonshot"),
    ("dashscope", "dashscope"),
    ("siliconflow", "siliconflow"),
    ("volces.com", "ark"),
    ("baidubce.com", "qianfan"),
    ("together.xyz", "together"),
)

#: Well-known local ports and the server that usually listens there.
LOCAL_PORTS: dict[int, str] = {11434: "ollama", 1234: "lmstudio"}
LOCAL_PROVIDERS = frozenset({"ollama", "lmstudio", "vllm", "llamacpp"})
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "0.0.0.0", "::1", "host.docker.internal"})

#: Provider names as harnesses and libraries print them, mapped to our family names.
PROVIDER_ALIASES: dict[str, str] = {
    "claude": "anthropic",
    "anthropic-oauth": "anthropic",
    "azure_openai": "azure",
    "azure-openai": "azure",
    "google": "gemini",
    "google-gemini": "gemini",
    "gemini-api": "gemini",
    "vertex_ai": "vertex",
    "vertexai": "vertex",
    "vertex-ai": "vertex",
    "aws": "bedrock",
    "aws-bedrock": "bedrock",
    "kimi": "moonshot",
    "glm": "zhipu",
    "zhipuai": "zhipu",
    "qwen": "dashscope",
    "aliyun": "dashscope",
    "lm-studio": "lmstudio",
    "lm_studio": "lmstudio",
    "llama.cpp": "llamacpp",
    "llama-cpp": "llamacpp",
    "llama_cpp": "llamacpp",
    "new-api": "newapi",
    "one-api": "oneapi",
    "x-ai": "xai",
    "grok": "xai",
    "volcengine": "ark",
    "doubao": "ark",
}

# Library and SDK names that appear in exception text, e.g. "AnthropicException" or
# "anthropic.BadRequestError".
_TEXT_HINTS = re.compile(
    r"\b(anthropic|openai|azure|gemini|vertex_?ai|bedrock|openrouter|deepseek|groq|mistral|ollama)"
    r"(?:exception\b|\.[a-z]*error\b)",
    re.IGNORECASE,
)
_LOCAL_TEXT = re.compile(
    r"localhost|127\.0\.0\.1|0\.0\.0\.0|\[::1\]|host\.docker\.internal|:11434\b|port 11434|"
    r"'127\.0\.0\.1'|port=11434|:1234\b|port 1234\b|port=1234\b"
)


def normalize_provider(name: str | None) -> str | None:
    """Our family name for a provider as a harness or config spells it."""
    if not name:
        return None
    lowered = name.strip().lower()
    return PROVIDER_ALIASES.get(lowered, lowered)


def provider_from_url(url: str | None) -> str | None:
    """The provider family an endpoint URL belongs to, if the host says so."""
    if not url:
        return None
    try:
        parts = urlsplit(url if "//" in url else f"//{url}")
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError:
        return None
    for fragment, provider in HOST_PROVIDERS:
        if fragment in host:
            return provider
    if host in _LOOPBACK_HOSTS and port in LOCAL_PORTS:
        return LOCAL_PORTS[port]
    return None


def provider_from_text(text: str, parsed: Any) -> str | None:
    """A provider family named in exception text, or recognisable from the body's shape."""
    match = _TEXT_HINTS.search(text)
    if match:
        return normalize_provider(match.group(1))
    if isinstance(parsed, dict) and parsed.get("type") == "error" and "error" in parsed:
        return "anthropic"
    return None


def is_local_target(endpoint: str | None, provider: str | None, text: str) -> bool:
    """True when the failing server is on this machine (so "refused" means "not running")."""
    if provider in LOCAL_PROVIDERS:
        return True
    if endpoint:
        try:
            host = urlsplit(endpoint if "//" in endpoint else f"//{endpoint}").hostname or ""
        except ValueError:
            host = ""
        if host.lower() in _LOOPBACK_HOSTS:
            return True
    return _LOCAL_TEXT.search(text) is not None
