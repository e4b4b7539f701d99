"""What a client wrote that a provider may quote back in an error, and masking it there.

Providers quote the request in their errors: a model name, an unknown parameter's name, an
invalid value (a role, a tool name, a schema property). Those words are the client's, not the
provider's: a client that names a parameter "exceeded your current quota" must not make the
shared credential look exhausted for every other tenant. So before a failure may gate or cool
a path, every place its body quotes the request is masked and the body is read again; only
what is left, the provider's own words, decides.

Which strings: every object key and every string value of the request, at any depth, and the
model name sent upstream, except the APIs' own words (`WIRE_WORDS`: "model", "user", ...),
which the provider uses itself. A long value (a prompt) is matched by its start and the match is
extended as far as the error quotes it, so a quote cut short is masked too.

Cost: nothing on success or on a failure that would not touch shared state. Otherwise the
strings are gathered once per request (a walk over the already parsed body, at most
`MAX_STRINGS` distinct ones), and each costs one set look-up against the 4-character pieces
of the error's first `TEXT_LIMIT` characters; only a string whose start the error contains is
searched for. A request with more strings than that is not read for echoes at all: its
failures may fail over but never gate or cool a path (`untrusted`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

import orjson

__all__ = ["MASK", "ClientEcho"]

#: What a masked quote becomes: no letters, so no rule can match it.
MASK = "\u2026"
#: Distinct strings read from one request; past this the request's failures gate nothing.
MAX_STRINGS = 20_000
#: Characters of an error searched for quotes (the rules read no further: facts._TEXT_LIMIT).
TEXT_LIMIT = 16_384
#: Error bodies parsed to mask quotes inside JSON strings (facts._PARSE_LIMIT).
PARSE_LIMIT = 262_144
#: A string is looked up by its first SEED characters.
SEED = 4
#: A quote cut short must keep at least this much of the string to count as one.
MIN_CUT_QUOTE = 12
_MAX_DEPTH = 64
#: The APIs' own words (parameter names, roles, types): the provider says them too ("model:
#: ..." names the field, not the client's value), and none of them is a reason to gate.
WIRE_WORDS = frozenset(
    """
    model messages role content type text name description parameters properties required
    items enum input_schema function functions tool tools tool_choice tool_calls tool_call_id
    tool_use tool_result tool_use_id id arguments input is_error image image_url url source
    media_type data base64 cache_control ephemeral max_tokens max_completion_tokens stream
    stream_options include_usage temperature top_p top_k stop stop_sequences system metadata
    user assistant developer thinking signature budget_tokens enabled disabled auto none any
    object string integer number boolean array null strict additionalproperties
    response_format json_schema json_object schema format detail low high n seed
    reasoning reasoning_effort redacted_thinking document title
    """.split()  # noqa: SIM905
)


class ClientEcho:
    """The strings of one request, gathered on first use."""

    __slots__ = ("_extra", "_limit", "_load", "_strings", "untrusted")

    def __init__(self, data: Any, *extra: str, limit: int = MAX_STRINGS) -> None:
        self._load: Callable[[], Any] = lambda: data
        self._extra = extra
        self._limit = limit
        self._strings: set[str] | None = None  # lower-cased, with their JSON-escaped forms
        self.untrusted = False  # too many strings to check: this request may not gate

    @classmethod
    def lazy(cls, load: Callable[[], Any], *extra: str) -> ClientEcho:
        """The echo of a request whose body is parsed only if an answer must be masked."""
        echo = cls(None, *extra)
        echo._load = load
        return echo

    def mask(self, body: str, *names: str) -> str | None:
        """The body with every quote of the request (or of `names`, such as the model a path
        was sent) masked; None when it quotes nothing."""
        strings = self._gathered()
        if names:
            strings = strings | _searchable(names)
        if not strings or not body:
            return None
        parsed = _parse(body)
        if parsed is not None:
            changed, masked = self._mask_node(parsed, strings, 0)
            return orjson.dumps(masked).decode() if changed else None
        head = self._mask_text(body[:TEXT_LIMIT], strings)
        return None if head is None else head + body[TEXT_LIMIT:]

    def _gathered(self) -> set[str]:
        if self._strings is None:
            loaded = self._load()
            data = loaded if isinstance(loaded, dict | list) else [loaded]
            found, complete = _gather(data, self._limit)
            self.untrusted = not complete
            self._strings = _searchable([*self._extra, *found])
        return self._strings

    def _mask_node(self, node: Any, strings: set[str], depth: int) -> tuple[bool, Any]:
        if depth > _MAX_DEPTH:
            return False, node
        if isinstance(node, str):
            masked = self._mask_text(node, strings)
            return (False, node) if masked is None else (True, masked)
        if isinstance(node, dict):
            changed, out = False, {}
            for key, value in node.items():
                hit, out[key] = self._mask_node(value, strings, depth + 1)
                changed = changed or hit
            return changed, out
        if isinstance(node, list):
            pairs = [self._mask_node(item, strings, depth + 1) for item in node]
            return any(hit for hit, _ in pairs), [item for _, item in pairs]
        return False, node

    @staticmethod
    def _mask_text(text: str, strings: set[str]) -> str | None:
        """Mask every quote of a client string in `text`, or None when there is none."""
        text = text[:TEXT_LIMIT]
        lowered, origin = _lower(text)
        spans: list[tuple[int, int]] = []
        pieces = _pieces(lowered)
        for value in strings:
            if value[:SEED] in pieces:
                spans.extend(_quotes(lowered, value))
        if not spans:
            return None
        if origin is not None:  # back to the positions of `text`
            spans = [(origin[start], origin[end - 1] + 1) for start, end in spans]
        return _apply(text, spans)


def _lower(text: str) -> tuple[str, list[int] | None]:
    """`text` in lower case; when that changes its length (a dotted capital I becomes two
    characters), also the position in `text` of each lower-case character."""
    lowered = text.lower()
    if len(lowered) == len(text):
        return lowered, None
    origin: list[int] = []
    for position, char in enumerate(text):
        origin.extend([position] * len(char.lower()))
    return lowered, origin


def _searchable(values: Iterable[str]) -> set[str]:
    """Lower-cased (the rules read lower case), and as JSON would escape them."""
    out: set[str] = set()
    for value in values:
        lowered = value[:TEXT_LIMIT].lower()  # an error quotes no more than the rules read
        if lowered and lowered not in WIRE_WORDS:
            out.update(_variants(lowered))
    return out


def _pieces(text: str) -> set[str]:
    """Every substring of `text` of 1 to SEED characters (a seed is at most that long)."""
    return {text[i : i + n] for n in range(1, SEED + 1) for i in range(len(text) - n + 1)}


def _gather(data: Any, limit: int) -> tuple[set[str], bool]:
    """Every key and string value; False when there are more than `limit` or the body is
    deeper than we read (either may hide a quote). A tight loop: it may see 10^5 nodes."""
    found: set[str] = set()
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        node, depth = stack.pop()
        if depth >= _MAX_DEPTH:
            return found, False
        values: Iterable[Any] = node
        if type(node) is dict:
            found.update(node)  # a parsed JSON object's keys are strings
            values = node.values()
        for value in values:
            kind = type(value)
            if kind is str:
                found.add(value)
            elif kind is dict or kind is list:
                stack.append((value, depth + 1))
        if len(found) > limit:
            return found, False
    return found, True


def _variants(value: str) -> list[str]:
    """The string as a provider may write it: as is, escaped inside a JSON string, or with
    its runs of whitespace made one space (as the rules read text)."""
    if (
        value.isascii()
        and value.isprintable()
        and '"' not in value
        and "\\" not in value
        and "  " not in value
    ):
        return [value] if value else []  # every form is the same
    forms = {value, orjson.dumps(value).decode()[1:-1], json.dumps(value)[1:-1]}
    forms.add(" ".join(value.split()))
    return [form for form in forms if form]


def _quotes(text: str, value: str) -> Iterable[tuple[int, int]]:
    """Spans of `text` that quote `value`: whole, or cut short after MIN_CUT_QUOTE chars.
    A whole quote of a word must stand alone (not inside a longer word of the provider's)."""
    seed = value[:SEED]
    start = text.find(seed)
    while start != -1:
        length = _common_prefix(text, start, value)
        whole = length == len(value)
        if (whole and _stands_alone(text, start, start + length)) or (
            not whole and length >= MIN_CUT_QUOTE
        ):
            yield start, start + length
        start = text.find(seed, start + 1)


def _common_prefix(text: str, start: int, value: str) -> int:
    end = min(len(value), len(text) - start)
    if text.startswith(value[:end], start):
        return end
    low, high = 0, end  # the longest agreeing prefix, by halving
    while low < high:
        middle = (low + high + 1) // 2
        if text.startswith(value[:middle], start):
            low = middle
        else:
            high = middle - 1
    return low


def _stands_alone(text: str, start: int, end: int) -> bool:
    before = text[start - 1] if start > 0 else " "
    after = text[end] if end < len(text) else " "
    first, last = text[start], text[end - 1]
    return not (first.isalnum() and before.isalnum()) and not (last.isalnum() and after.isalnum())


def _apply(text: str, spans: list[tuple[int, int]]) -> str:
    out, position = [], 0
    for start, end in sorted(spans):
        if end <= position:
            continue
        out.append(text[position : max(start, position)])
        out.append(MASK)
        position = end
    out.append(text[position:])
    return "".join(out)


def _parse(body: str) -> Any:
    stripped = body.lstrip()
    if not stripped or stripped[0] not in "{[" or len(stripped) > PARSE_LIMIT:
        return None
    try:
        return orjson.loads(stripped)
    except orjson.JSONDecodeError:
        return None
