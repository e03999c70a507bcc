"""Reading a Segment request body (pure): optional gzip, bounded after decompression, JSON.

The size limit applies to the decompressed body, and decompression stops one byte past it, so a
small gzip bomb costs at most ``limit`` bytes of memory before it is refused.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

from app.errors import PayloadTooLarge
from app.integrations.errors import BadRequest, UnsupportedMediaType


def decompress(raw: bytes, content_encoding: str | None, limit: int) -> bytes:
    """The body as sent before ``Content-Encoding`` (identity or gzip), at most ``limit`` bytes.
    Raises PayloadTooLarge beyond it, BadRequest for a corrupt or truncated gzip stream,
    UnsupportedMediaType for other encodings."""
    encoding = (content_encoding or "identity").strip().lower()
    if encoding in {"", "identity"}:
        if len(raw) > limit:
            raise PayloadTooLarge(f"The body exceeds {limit} bytes.")
        return raw
    if encoding not in {"gzip", "x-gzip"}:
        raise UnsupportedMediaType(f"Content-Encoding {encoding!r} is not supported; use gzip.")
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(raw, limit + 1)
    except zlib.error:
        raise BadRequest("The gzip body is corrupt.") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise PayloadTooLarge(f"The decompressed body exceeds {limit} bytes.")
    if not inflater.eof or inflater.unused_data:
        raise BadRequest("The gzip body is truncated or has trailing data.")
    return out


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def parse_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object; BadRequest for anything else."""
    try:
        parsed = json.loads(body, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise BadRequest("The body is not valid JSON.") from None
    if not isinstance(parsed, dict):
        raise BadRequest("The body must be a JSON object.")
    return parsed
