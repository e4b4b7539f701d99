"""Masking credentials in text that came from outside: by value first, by shape second.

By value: the configured secrets themselves (provider keys, gateway and admin keys, custom
auth headers, passwords in state and ledger URLs). An upstream that echoes the key it was sent
gets it masked whatever the key looks like. By shape: well-known credential formats (`sk-...`,
Google `AIza...`, AWS `AKIA...`, GitHub, Slack, Hugging Face, JWTs, bearer tokens, `key=` in a
URL), a second net for credentials the gateway never held.

`SecretMask.text` applies both, for what people read: error bodies, diagnoses, logs, the
dashboard. `SecretMask.bytes` applies only the first, for answers relayed to clients: a model
writing an example `sk-...` in code is no leak, the gateway's own key is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import orjson

__all__ = ["MASK", "SecretMask", "mask_shapes"]

MASK = "****"
#: Values shorter than this are not masked by value: they would mask ordinary words.
MIN_SECRET_LENGTH = 8
#: How much of a secret masking by value keeps, so a person can tell which key it was.
_KEPT = 4

_TOKEN = r"[A-Za-z0-9_\-]"
_PLAIN = re.compile(_TOKEN + "*")


@dataclass(frozen=True, slots=True)
class _Shape:
    """One credential format. `needs` are lower-case substrings one of which must be present
    for the pattern to be worth running: a fast C search that skips nearly every body. Each
    pattern has one group, the part kept, and starts with a literal where it can (so the
    regex engine can skip ahead by itself)."""

    needs: tuple[bytes, ...]
    pattern: re.Pattern[str]
    word_start: bool = True  # only where a word starts (not "task-force" for `sk-`)


def _literal(prefix: str, rest: str, keep: str = "") -> _Shape:
    pattern = re.compile(f"({re.escape(prefix)}{keep}){rest}")
    return _Shape((prefix.lower().encode(),), pattern)


_SHAPES: tuple[_Shape, ...] = (
    # OpenAI, Anthropic, OpenRouter, DeepSeek, turnout's own keys: sk-..., tk-..., rk-...
    *(_literal(p, f"{_TOKEN}{{6,}}", "[A-Za-z0-9]{0,5}") for p in ("sk-", "tk-", "rk-", "pk-")),
    *(_literal(p, "[A-Za-z0-9]{10,}") for p in ("sk_live_", "sk_test_", "rk_live_")),
    _literal("AIza", f"{_TOKEN}{{30,}}"),  # Google API keys
    *(_literal(p, "[0-9A-Z]{14}(?![0-9A-Z])", "[0-9A-Z]{2}") for p in ("AKIA", "ASIA")),  # AWS
    *(_literal(p, "[A-Za-z0-9]{20,}") for p in ("ghp_", "gho_", "ghu_", "ghs_", "ghr_")),
    _literal("github_pat_", "[A-Za-z0-9_]{20,}"),
    _literal("xox", "[A-Za-z0-9\\-]{10,}", "[abporse]-"),  # Slack
    _literal("xapp-", "[A-Za-z0-9\\-]{10,}"),
    *(
        _literal(p, f"{_TOKEN}{{20,}}")
        for p in ("hf_", "gsk_", "xai-", "glpat-", "r8_", "pplx-", "nvapi-")
    ),
    _literal("eyJ", f"{_TOKEN}{{8,}}\\.{_TOKEN}{{8,}}\\.{_TOKEN}{{8,}}"),  # JWTs
    _Shape((b"bearer",), re.compile(r"((?i:bearer)\s+)[^\s\"',;]{6,}")),
    _Shape(
        (b"api_key", b"api-key", b"apikey", b"access_token", b"access-token"),
        re.compile(
            r"((?i:x-goog-api-key|x-api-key|api[-_]?key|access[-_]?token)[\"']?\s*[:=]\s*"
            r"[\"']?)[^\s\"',;&]{6,}"
        ),
        word_start=False,
    ),
    # Credentials in URLs: ?key=... (Google), user:password@host.
    _Shape((b"key=",), re.compile(r"([?&](?i:key|api_key)=)[^&\s\"'#]{6,}"), word_start=False),
    _Shape((b"token=",), re.compile(r"([?&](?i:token|access_token)=)[^&\s\"'#]{6,}"), False),
    _Shape((b"://",), re.compile(r"(://[^/\s:@]{1,64}:)[^@\s/]{1,256}(?=@)"), False),
)
#: Any shape's needs, in one pattern: one scan tells the common text (no credential-like
#: word anywhere) from the rest, three times faster than a search per need.
_ANY_NEED = re.compile(
    b"|".join(re.escape(need) for need in sorted({n for s in _SHAPES for n in s.needs}))
)
_WORD = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")


def _keep(match: re.Match[str]) -> str:
    return match.group(1) + MASK


def _keep_at_word_start(match: re.Match[str]) -> str:
    start = match.start()
    if start and match.string[start - 1] in _WORD:
        return match.group(0)  # inside a word: not a credential
    return match.group(1) + MASK


def mask_shapes(text: str) -> str:
    """`text` with anything shaped like a known credential masked (its prefix kept)."""
    if not text:
        return text
    lowered = text.encode("utf-8", "surrogatepass").lower()
    if _ANY_NEED.search(lowered) is None:
        return text
    for shape in _SHAPES:
        if any(need in lowered for need in shape.needs):
            text = shape.pattern.sub(_keep_at_word_start if shape.word_start else _keep, text)
    return text


class SecretMask:
    """The secrets to mask by value; `learn` adds more (a reloaded config's new keys).

    Cheap when nothing leaks: a check is one substring search per secret (C speed, no
    allocation), and only a body that holds a secret is rebuilt.
    """

    __slots__ = ("_bytes", "_texts")

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._texts: dict[str, str] = {}
        self._bytes: dict[bytes, bytes] = {}
        self.learn(secrets)

    def learn(self, secrets: Iterable[str]) -> None:
        for secret in secrets:
            if len(secret) < MIN_SECRET_LENGTH or secret in self._texts:
                continue
            kept = _PLAIN.match(secret[:_KEPT])
            masked = (kept.group(0) if kept else "") + MASK  # no character JSON would escape
            escaped = orjson.dumps(secret).decode()[1:-1]  # as it appears inside JSON
            for form in {secret, escaped}:
                self._texts[form] = masked
                self._bytes[form.encode()] = masked.encode()
        # Longest first: a secret that contains another is masked whole.
        self._texts = dict(sorted(self._texts.items(), key=lambda kv: -len(kv[0])))
        self._bytes = dict(sorted(self._bytes.items(), key=lambda kv: -len(kv[0])))

    def __len__(self) -> int:
        return len(self._texts)

    def values(self, text: str) -> str:
        """`text` with every known secret masked."""
        for secret, masked in self._texts.items():
            if secret in text:
                text = text.replace(secret, masked)
        return text

    def bytes(self, data: bytes) -> bytes:
        """`data` with every known secret masked; the same object when none is in it."""
        for secret, masked in self._bytes.items():
            if secret in data:
                data = data.replace(secret, masked)
        return data

    def text(self, text: str) -> str:
        """`text` with known secrets and anything shaped like a credential masked."""
        return mask_shapes(self.values(text))
