"""What every integration shares (pure): idempotency keys derived from the source's own ids,
free-form properties bounded to what an event may carry, and money in major units.

Integrations translate foreign payloads into plain event dicts; the service validates them with
the same Pydantic union as ``POST /v1/events`` and feeds them to the same ``ingest``.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from fractions import Fraction
from typing import Any, get_args

from app import money
from app.events.schemas import MAX_PROPERTIES_BYTES, MAX_PROPERTIES_DEPTH, Event

_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
MAX_INT64 = 2**63 - 1


def _typed_fields() -> dict[str, frozenset[str]]:
    union = get_args(get_args(Event)[0])
    common = set.intersection(*(set(model.model_fields) for model in union))
    return {
        get_args(model.model_fields["type"].annotation)[0]: frozenset(
            set(model.model_fields) - common
        )
        for model in union
    }


# The typed fields of each event type (beside customer_id, occurred_at, idempotency_key,
# properties), read from the event schemas; anything else a source sends goes into
# ``properties``.
TYPED_FIELDS: Mapping[str, frozenset[str]] = _typed_fields()


class MappingError(ValueError):
    """A foreign payload that cannot become a Holdfast event; ``loc`` points into the payload."""

    def __init__(self, loc: tuple[str | int, ...], msg: str) -> None:
        super().__init__(msg)
        self.loc = loc
        self.msg = msg

    def issue(self, prefix: tuple[str | int, ...] = ()) -> dict[str, Any]:
        return {"loc": [*prefix, *self.loc], "msg": self.msg, "type": "value_error"}


def integration_key(prefix: str, source_id: str) -> str:
    """The idempotency key of an event derived from a source's id: ``prefix:source_id`` when that
    is 1-255 printable ASCII characters without spaces, else ``prefix:sha256:<hex of
    source_id>`` (one-to-one in practice, readable prefix kept)."""
    plain = f"{prefix}:{source_id}"
    if _KEY.match(plain):
        return plain
    return (
        f"{prefix}:sha256:{hashlib.sha256(source_id.encode('utf-8', 'surrogatepass')).hexdigest()}"
    )


class _Cleaner:
    """Copies JSON-like data, leaving out what an event cannot store; remembers if it did."""

    def __init__(self) -> None:
        self.dropped = False

    def keep(self, node: Any, depth: int) -> tuple[bool, Any]:
        ok, value = self._keep(node, depth)
        if not ok:
            self.dropped = True
        return ok, value

    def _keep(self, node: Any, depth: int) -> tuple[bool, Any]:
        if depth > MAX_PROPERTIES_DEPTH:
            return False, None
        if isinstance(node, str):
            return "\x00" not in node, node
        if isinstance(node, bool) or node is None:
            return True, node
        if isinstance(node, int):
            return abs(node) <= MAX_INT64, node
        if isinstance(node, float):
            return math.isfinite(node), node
        if isinstance(node, dict):
            out: dict[str, Any] = {}
            for key, item in node.items():
                if not isinstance(key, str) or "\x00" in key:
                    self.dropped = True
                    continue
                ok, value = self.keep(item, depth + 1)
                if ok:
                    out[key] = value
            return True, out
        if isinstance(node, list):
            items = []
            for item in node:
                ok, value = self.keep(item, depth + 1)
                if ok:
                    items.append(value)
            return True, items
        return False, None


def _size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":")))


def fit_properties(raw: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """Properties an event accepts (at most 16 KB of compact JSON, 8 levels deep, no NUL
    characters, no integer beyond 64 bits, no NaN or infinity), built from ``raw`` by dropping
    what does not fit: offending values anywhere, then whole top-level keys, in order, that would
    pass the size. Returns the properties and whether anything was dropped; when something was,
    they carry ``"_truncated": true``."""
    cleaner = _Cleaner()
    _, cleaned = cleaner.keep(dict(raw), 1)
    if not cleaner.dropped and _size(cleaned) <= MAX_PROPERTIES_BYTES:
        return cleaned, False
    budget = MAX_PROPERTIES_BYTES - len(',"_truncated":true')
    out: dict[str, Any] = {}
    used = 2  # the braces
    for key, value in cleaned.items():
        entry = _size({key: value}) - 2 + (1 if out else 0)
        if used + entry <= budget:
            out[key] = value
            used += entry
    out["_truncated"] = True
    return out, True


def truncate(value: str, limit: int) -> str:
    """``value`` without NUL characters, cut to ``limit`` characters."""
    return value.replace("\x00", "")[:limit]


def minor_units(amount: Any, currency: str) -> int:
    """``amount`` in major units of ``currency`` (``25.5`` USD) as integer minor units
    (``2550``): times 10 to the currency's ISO 4217 exponent, rounded half up. Raises
    ValueError for anything that is not a finite, non-negative number, or an unknown currency."""
    if not money.is_currency(currency.upper()):
        raise ValueError(f"{currency!r} is not an ISO 4217 currency code")
    if isinstance(amount, bool) or not isinstance(amount, int | float | str):
        raise ValueError("must be a number")
    try:
        value = Decimal(str(amount).strip())
    except InvalidOperation:
        raise ValueError("must be a number") from None
    if not value.is_finite():
        raise ValueError("must be a finite number")
    if value < 0:
        raise ValueError("must not be negative")
    if value > Decimal(10) ** 15:
        raise ValueError("is too large")
    return int(value.scaleb(money.exponent(currency)).to_integral_value(rounding=ROUND_HALF_UP))


def parse_time(value: Any) -> datetime:
    """An ISO 8601 / RFC 3339 timestamp as an aware UTC datetime; one without an offset is taken
    as UTC. Raises ValueError otherwise."""
    if not isinstance(value, str) or not value or len(value) > 64:
        raise ValueError("must be an ISO 8601 timestamp")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError("must be an ISO 8601 timestamp") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range") from None


# -- recurring prices -----------------------------------------------------------------------

_MONTHS_PER = {
    "month": Fraction(1),
    "year": Fraction(12),
    "week": Fraction(12, 52),
    "day": Fraction(12, 365),
}


def monthly(amount: Fraction, interval: str, interval_count: int) -> Fraction:
    """The monthly equivalent of ``amount`` billed every ``interval_count`` ``interval`` s:
    ``amount / (interval_count x months per interval)``, where a month is 1, a year 12 months, a
    week 12/52 of a month and a day 12/365 of a month. Exact (no rounding here)."""
    if interval not in _MONTHS_PER:
        raise ValueError(f"unknown interval {interval!r}")
    if interval_count < 1:
        raise ValueError("interval_count must be at least 1")
    return amount / (interval_count * _MONTHS_PER[interval])
