"""The input contract shared by every endpoint: request models are strict, and times are strings.

- :class:`RequestModel` is the base of every request body: unknown fields are refused and no
  value is coerced (``1.0`` is not an int, ``0`` is not a bool, ``"5"`` is not a number).
- :data:`Instant` is a time in a body: a string, ISO 8601 / RFC 3339 with an offset. A JSON
  number is not a time (pydantic would read it as seconds since 1970).
- :data:`TimeParam` is a time in a query string, on every endpoint alike: a date-time with an
  offset, or a date (``2026-12-01``, midnight UTC). :data:`DayParam` takes the same forms and
  keeps the UTC day.

All of them are stored in UTC, and accepted between 1970-01-01 and the year 9000. Their OpenAPI
schemas carry a pattern on the year, so a schema-valid value is never out of that range.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Strict, WithJsonSchema, model_validator

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_YEAR = 9000

# Years 1971-8999: whatever the offset, such a time is inside [EARLIEST, LATEST_YEAR] in UTC.
_YEAR = r"^(197[1-9]|19[89][0-9]|[2-8][0-9]{3})-"
_DATE_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})"
)
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

DATE_TIME_SCHEMA: dict[str, Any] = {"type": "string", "format": "date-time", "pattern": _YEAR}
DATE_SCHEMA: dict[str, Any] = {"type": "string", "format": "date", "pattern": _YEAR}

RANGE_START = "Start of the range (inclusive): a date-time with offset, or a date (midnight UTC)."
RANGE_END = "End of the range (exclusive): a date-time with offset, or a date (midnight UTC)."

_NEEDS_OFFSET = "must be a string: an ISO 8601 date-time with an offset, e.g. 2026-11-01T09:30:00Z"
_DATE_OR_TIME = (
    "must be a date (2026-11-01, midnight UTC) or an ISO 8601 date-time with an offset "
    "(2026-11-01T09:30:00Z)"
)


class RequestModel(BaseModel):
    """Base of request bodies: unknown fields refused, no lax coercion.

    JSON has one number type: ``2.0`` is the integer 2 (JSON Schema agrees), so integral
    numbers are made ints before the strict validation; ``2.5`` for an integer stays an error.
    """

    model_config = ConfigDict(extra="forbid", strict=True)

    @model_validator(mode="before")
    @classmethod
    def _integral_numbers_are_ints(cls, data: Any) -> Any:
        return integral_numbers_as_ints(data)


def integral_numbers_as_ints(value: Any) -> Any:
    """``value`` with every float that has an integral value (``2.0``) as an int; containers
    without such a float are returned as they are (this runs on every request body)."""
    kind = type(value)
    if kind is float:
        return int(value) if value.is_integer() and abs(value) <= 2**53 else value
    if kind is dict:
        changed = None
        for key, item in value.items():
            if type(item) in _CONTAINERS_OR_FLOAT:
                new = integral_numbers_as_ints(item)
                if new is not item:
                    changed = changed or dict(value)
                    changed[key] = new
        return value if changed is None else changed
    if kind is list:
        items = [
            integral_numbers_as_ints(item) if type(item) in _CONTAINERS_OR_FLOAT else item
            for item in value
        ]
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    return value


_CONTAINERS_OR_FLOAT = frozenset({dict, list, float})


# A UUID arrives as a JSON string: the one place a strict model must convert.
Uuid = Annotated[uuid.UUID, Strict(False)]


def _in_range(value: datetime) -> datetime:
    try:
        value = value.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+03:00 has no UTC representation
        raise ValueError("must not be before 1970-01-01T00:00:00Z") from None
    if value < EARLIEST:
        raise ValueError("must not be before 1970-01-01T00:00:00Z")
    if value.year > LATEST_YEAR:
        raise ValueError(f"must be before the year {LATEST_YEAR}")
    return value


def _parse_date_time(value: str, message: str) -> datetime:
    text = value.upper()
    if not _DATE_TIME.fullmatch(text):
        raise ValueError(message)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"is not a valid date-time: {message}") from None
    return _in_range(parsed)


def parse_instant(value: object) -> datetime:
    """A body time: an aware datetime (from Python callers) or an RFC 3339 string with offset."""
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(_NEEDS_OFFSET)
        return _in_range(value)
    if not isinstance(value, str):
        raise ValueError(_NEEDS_OFFSET)
    return _parse_date_time(value, _NEEDS_OFFSET)


def parse_time_param(value: object) -> datetime:
    """A query time: a date-time with an offset, or a date meaning its midnight UTC."""
    if isinstance(value, datetime):
        return parse_instant(value)
    if isinstance(value, date):
        return _in_range(datetime.combine(value, time.min, UTC))
    if not isinstance(value, str):
        raise ValueError(_DATE_OR_TIME)
    if _DATE.fullmatch(value):
        try:
            day = date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"is not a valid date: {_DATE_OR_TIME}") from None
        return _in_range(datetime.combine(day, time.min, UTC))
    return _parse_date_time(value, _DATE_OR_TIME)


def parse_day_param(value: object) -> date:
    """A query day: a date, or a date-time with an offset meaning its UTC day."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    return parse_time_param(value).date()


Instant = Annotated[
    datetime,
    BeforeValidator(parse_instant),
    WithJsonSchema(DATE_TIME_SCHEMA),
]
TimeParam = Annotated[
    datetime,
    BeforeValidator(parse_time_param),
    WithJsonSchema({"anyOf": [DATE_TIME_SCHEMA, DATE_SCHEMA]}),
]
DayParam = Annotated[
    date,
    BeforeValidator(parse_day_param),
    WithJsonSchema({"anyOf": [DATE_SCHEMA, DATE_TIME_SCHEMA]}),
]


def omitted_not_null(*names: str) -> Callable[[dict[str, Any]], None]:
    """``json_schema_extra`` of a PATCH model whose fields ``names`` may be omitted but not
    null: the document drops the ``null`` pydantic adds for ``X | None = None``."""

    def drop_null(schema: dict[str, Any]) -> None:
        for name in names:
            prop = schema.get("properties", {}).get(name, {})
            branches = prop.get("anyOf")
            if not branches or {"type": "null"} not in branches:
                continue
            rest = [b for b in branches if b != {"type": "null"}]
            merged = {k: v for k, v in prop.items() if k not in {"anyOf", "default"}}
            schema["properties"][name] = (
                {**rest[0], **merged} if len(rest) == 1 else {**merged, "anyOf": rest}
            )

    return drop_null
