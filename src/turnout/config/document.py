"""Where things are in a YAML document: the line of a key path, and keys written twice.

PyYAML's `safe_load` silently keeps the last of two equal keys; a config with two providers of
the same name is a mistake worth naming, so we compose the node tree and look.
"""

from __future__ import annotations

from collections.abc import Iterator

import yaml

from turnout.config.load import At, ConfigError, label


def compose(text: str) -> yaml.Node | None:
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None  # parse errors are reported by the loader, with their line


def line_of(root: yaml.Node | None, at: At) -> int | None:
    """1-based line of the deepest node along `at` that exists."""
    node, line = root, None
    for part in at:
        if isinstance(node, yaml.MappingNode):
            match = next(((k, v) for k, v in node.value if k.value == str(part)), None)
            if match is None:
                break
            line, node = match[0].start_mark.line + 1, match[1]
        elif (
            isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value)
        ):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    if line is None and root is not None:
        return root.start_mark.line + 1
    return line


def duplicate_keys(root: yaml.Node | None, at: At = ()) -> Iterator[ConfigError]:
    """A ConfigError (with its line) for every key written twice in one mapping."""
    if isinstance(root, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in root.value:
            name = str(key.value)
            if name in seen:
                error = ConfigError(
                    f"{label(at)}: duplicate name {name!r}",
                    "each name may appear once; the later one would silently replace the first",
                    at=(*at, name),
                )
                error.line = key.start_mark.line + 1
                yield error
            seen.add(name)
            yield from duplicate_keys(value, (*at, name))
    elif isinstance(root, yaml.SequenceNode):
        for index, item in enumerate(root.value):
            yield from duplicate_keys(item, (*at, index))
