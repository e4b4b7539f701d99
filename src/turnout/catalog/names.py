"""The name the catalog knows a model by, whatever path spells it.

Clouds spell one vendor's model their own way: Bedrock as `anthropic.claude-sonnet-4-5-
20250929-v1:0`, behind a cross-region inference profile (`us.`, `eu.`, `apac.`, `global.`...)
or inside an ARN; Vertex AI as `claude-sonnet-4-5@20250929` or `publishers/google/models/
gemini-2.5-pro`; OpenRouter as `anthropic/claude-sonnet-4.5`. Each is the same model at the
vendor's price and window, so lookups read it as the vendor's own id.
"""

from __future__ import annotations

import re
from functools import lru_cache

#: Bedrock's inference-profile prefixes (geography, or `global.` for any commercial region).
_PROFILE = re.compile(r"^(us|us-gov|eu|apac|au|ca|jp|global)\.")
#: A Bedrock vendor prefix of a model id: `anthropic.`, `meta.`, `amazon.`...
_VENDOR = re.compile(r"^[a-z0-9-]+\.(?=[a-z])")
#: Bedrock's version suffix: `-v1:0`, `-v2`, `:0`.
_VERSION = re.compile(r"(-v\d+)?(:\d+)?$")


@lru_cache(maxsize=2048)
def catalog_name(model: str) -> str:
    """`model` as the vendor's own id, lower-cased: `us.anthropic.claude-haiku-4-5-20251001-v1:0`
    and `claude-haiku-4-5@20251001` are both `claude-haiku-4-5-20251001`."""
    bare = model.rsplit("/", 1)[-1].lower()  # ARN, publishers/.../models/, vendor/model
    if "." in bare and not re.match(r"^[a-z]+-\d", bare):
        # A dotted Bedrock id; a dotted version in a plain name (gemini-2.5-pro) stays.
        unprefixed = _VENDOR.sub("", _PROFILE.sub("", bare))
        if unprefixed != bare:
            bare = _VERSION.sub("", unprefixed)
    return bare.replace("@", "-")
