"""Images in the hub are URLs; inline bytes are `data:<media type>;base64,<data>` URLs."""

from __future__ import annotations

import re

from turnout.wire import hub

DATA_URL = re.compile(r"data:(?P<media>[\w.+-]+/[\w.+-]+);base64,(?P<data>.*)", re.DOTALL)


def image_url_of(image: hub.Image) -> str | None:
    """The URL to send, or None for an image only its provider's file store knows."""
    return image.url or None


def data_url(media_type: str, data: str) -> str:
    return f"data:{media_type};base64,{data}"
