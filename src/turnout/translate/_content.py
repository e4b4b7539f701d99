"""Content pieces that both dialects have, in two spellings: text and images.

Anthropic: `{"type": "image", "source": {"type": "base64", "media_type", "data"}}` or
`{"source": {"type": "url", "url"}}`. OpenAI: `{"type": "image_url", "image_url": {"url"}}`
where inline images are `data:<media type>;base64,<data>` URLs.
"""

from __future__ import annotations

import re
from typing import Any

from turnout.translate._shared import as_dict, as_list, as_text

_DATA_URL = re.compile(r"data:(?P<media>[\w.+-]+/[\w.+-]+);base64,(?P<data>.*)", re.DOTALL)


def image_part(block: dict[str, Any]) -> dict[str, Any] | None:
    """An Anthropic image block as an OpenAI image part; None for sources OpenAI cannot take
    (a Files API `file_id`)."""
    source = as_dict(block.get("source"))
    kind = source.get("type")
    if kind == "base64":
        url = f"data:{as_text(source.get('media_type'))};base64,{as_text(source.get('data'))}"
    elif kind == "url":
        url = as_text(source.get("url"))
    else:
        return None
    return {"type": "image_url", "image_url": {"url": url}}


def image_block(part: dict[str, Any]) -> dict[str, Any] | None:
    """An OpenAI image part as an Anthropic image block; None for a URL scheme Anthropic
    does not fetch."""
    image = part.get("image_url")
    url = image if isinstance(image, str) else as_text(as_dict(image).get("url"))
    inline = _DATA_URL.fullmatch(url)
    if inline:
        source = {"type": "base64", "media_type": inline["media"], "data": inline["data"]}
    elif url.startswith(("https://", "http://")):
        source = {"type": "url", "url": url}
    else:
        return None
    return {"type": "image", "source": source}


def image_detail(part: dict[str, Any]) -> str:
    """OpenAI's `detail` hint; Anthropic has no such knob."""
    return as_text(as_dict(part.get("image_url")).get("detail")) or "auto"


def joined_text(content: object, separator: str) -> str:
    """The text of a string or of a list of text blocks/parts; other pieces are not text."""
    if isinstance(content, str):
        return content
    texts = [as_text(item.get("text")) for item in as_list(content) if _is_text(item)]
    return separator.join(texts)


def _is_text(item: object) -> bool:
    return isinstance(item, dict) and item.get("type") == "text"
