"""Necessary literals of a regular expression, to skip most rules with a cheap substring test.

Most rule regexes are alternations of phrases. For each top-level alternative we take its
longest run of plain characters outside groups, classes and quantifiers: the alternative cannot
match unless that run occurs in the text. When every alternative has such a run, the rule's
regex need only be tried when one of them is present.
"""

from __future__ import annotations

_QUANTIFIERS = frozenset("*+?{")
_CLASS_ESCAPES = frozenset("dDwWsSbBAZz0123456789")


def _split_top_level(pattern: str) -> list[str] | None:
    parts: list[str] = []
    depth = 0
    in_class = False
    start = 0
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            index += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            if pattern[index + 1 : index + 2] == "]":
                index += 1
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            parts.append(pattern[start:index])
            start = index + 1
        index += 1
    if depth != 0 or in_class:
        return None
    parts.append(pattern[start:])
    return parts


def _end_of_group(pattern: str, index: int) -> int:
    """Index just past the `)` closing the group opened at `index`."""
    depth = 0
    in_class = False
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            index += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return index + 1
        index += 1
    return index


def _end_of_class(pattern: str, index: int) -> int:
    index += 1
    if pattern[index : index + 1] == "^":
        index += 1
    if pattern[index : index + 1] == "]":
        index += 1
    while index < len(pattern) and pattern[index] != "]":
        index += 2 if pattern[index] == "\\" else 1
    return index + 1


def _skip_quantifier(pattern: str, index: int) -> int:
    if index < len(pattern) and pattern[index] == "{":
        close = pattern.find("}", index)
        index = close + 1 if close != -1 else len(pattern)
    elif index < len(pattern) and pattern[index] in "*+?":
        index += 1
    if index < len(pattern) and pattern[index] in "?+":  # lazy or possessive
        index += 1
    return index


def _longest_run(alternative: str) -> str:
    best = ""
    run: list[str] = []

    def close_run() -> None:
        nonlocal best, run
        if len(run) > len(best):
            best = "".join(run)
        run = []

    index = 0
    while index < len(alternative):
        char = alternative[index]
        if char == "(":
            close_run()
            index = _skip_quantifier(alternative, _end_of_group(alternative, index))
            continue
        if char == "[":
            close_run()
            index = _skip_quantifier(alternative, _end_of_class(alternative, index))
            continue
        if char in ".^$":
            close_run()
            index = _skip_quantifier(alternative, index + 1)
            continue
        if char == "\\":
            escaped = alternative[index + 1 : index + 2]
            literal = None if escaped in _CLASS_ESCAPES else escaped
            index += 2
        else:
            literal = char
            index += 1
        if index < len(alternative) and alternative[index] in _QUANTIFIERS:
            close_run()
            index = _skip_quantifier(alternative, index)
            continue
        if literal is None:
            close_run()
        else:
            run.append(literal)
    close_run()
    return best


def required_literals(pattern: str) -> tuple[str, ...] | None:
    """Substrings one of which must occur for `pattern` to match; None when none can be told."""
    parts = _split_top_level(pattern)
    if parts is None:
        return None
    if len(parts) == 1 and pattern.startswith("(") and _end_of_group(pattern, 0) == len(pattern):
        inner = pattern[1:-1]
        if not inner.startswith("?"):
            parts = _split_top_level(inner) or [pattern]
    literals = []
    for part in parts:
        literal = _longest_run(part)
        if len(literal) < 2:
            return None
        literals.append(literal)
    # A literal containing another is implied by it: test only the shorter.
    unique = set(literals)
    return tuple(sorted(lit for lit in unique if not any(o != lit and o in lit for o in unique)))
