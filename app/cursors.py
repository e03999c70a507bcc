"""The one cursor codec: page cursors are position markers, not opaque tokens.

A cursor names a position in a list's order, and any value of its declared pattern is a
position ("after this one"), whether or not the API ever issued it: a hand-made or stale
cursor pages on from where it points instead of failing. The patterns are declared in the
OpenAPI document, so a client (or a fuzzer) can tell a cursor from a typo.

- Lists ordered newest first by ``(time, id)`` (events, webhook deliveries, the audit log):
  ``<microseconds since 1970-01-01T00:00:00Z>-<uuid as 32 hex digits>``.
- The customer list ordered by score: ``<score>~<customer id>``; an empty score is an unscored
  customer. Ordered by customer id, the score part is ignored.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

from fastapi import Query

from app.errors import InvalidInput

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

TIME_ID_PATTERN = r"^[0-9]{1,16}-[0-9a-f]{32}$"
TIME_ID_MAX_LENGTH = 16 + 1 + 32
TIME_ID_DESCRIPTION = (
    "The `next_cursor` of the previous page: a position, `<microseconds since 1970>-<id hex>`; "
    "the page holds the items after it."
)

_SCORE = r"-?[0-9]{1,20}(\.[0-9]{1,20})?(e[-+]?[0-9]{1,3})?"
_CUSTOMER_ID = r"[A-Za-z0-9._:@+|=-]{1,200}"
SCORE_ID_PATTERN = rf"^({_SCORE})?~{_CUSTOMER_ID}$"
SCORE_ID_MAX_LENGTH = 64 + 1 + 200
SCORE_ID_DESCRIPTION = (
    "The `next_cursor` of the previous page: a position, `<score>~<customer id>` (no score: "
    "unscored); the page holds the customers after it in the requested order."
)


def _invalid() -> InvalidInput:
    return InvalidInput(
        "The cursor is not a position; pass back the next_cursor of a previous page.",
        errors=[{"loc": ["query", "cursor"], "msg": "invalid cursor", "type": "value_error"}],
    )


def encode_time_id(at: datetime, row_id: uuid.UUID) -> str:
    delta = at - EPOCH
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return f"{micros}-{row_id.hex}"


def decode_time_id(cursor: str) -> tuple[datetime, uuid.UUID]:
    if not re.fullmatch(TIME_ID_PATTERN, cursor):
        raise _invalid()
    micros, _, hex_id = cursor.partition("-")
    return EPOCH + timedelta(microseconds=int(micros)), uuid.UUID(hex=hex_id)


def encode_score_id(score: float | None, customer_id: str) -> str:
    return f"{'' if score is None else repr(float(score))}~{customer_id}"


def decode_score_id(cursor: str) -> tuple[float | None, str]:
    if not re.fullmatch(SCORE_ID_PATTERN, cursor):
        raise _invalid()
    score, _, customer_id = cursor.partition("~")
    return (float(score) if score else None), customer_id


TIME_ID_QUERY = Query(
    max_length=TIME_ID_MAX_LENGTH, pattern=TIME_ID_PATTERN, description=TIME_ID_DESCRIPTION
)
