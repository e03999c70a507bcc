"""The one way integrations store events: validate each mapped payload with the same schema as
``POST /v1/events`` and ingest it on the same path (same idempotency, same folding).

For an integration the source's own id is authoritative: a key seen before is a duplicate even
when the mapped content differs (a Stripe event redelivered after Holdfast's mapping changed, a
Segment messageId or CloudEvents source+id reused), as the sources themselves define it. The
first version recorded stays.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import InvalidInput
from app.events.schemas import EVENT_ADAPTER, Event
from app.events.service import ingest
from app.integrations.common import parse_time
from app.problems import validation_errors


@dataclass(frozen=True, slots=True)
class Recorded:
    """What became of one event: stored (accepted), already stored (duplicate), or refused by
    ingest itself for a rule only the database can check (invalid, with ``errors``)."""

    id: uuid.UUID | None
    status: Literal["accepted", "duplicate", "invalid"]
    errors: tuple[dict[str, Any], ...] = ()


_TIMES = ("occurred_at", "effective_at", "resume_at")


def validate(payload: Any) -> Event:
    """The event a mapped payload stands for; raises ValidationError like ``POST /v1/events``."""
    try:
        return EVENT_ADAPTER.validate_python(payload)
    except OverflowError:
        # The event schema converts times to UTC unguarded: 0001-01-01T00:00+03:00 overflows
        # instead of failing validation. Report it as the invalid field it is.
        field = next((name for name in _TIMES if _out_of_range(payload.get(name))), _TIMES[0])
        raise ValidationError.from_exception_data(
            "Event",
            [
                {
                    "type": "value_error",
                    "loc": (str(payload.get("type")), field),
                    "input": payload.get(field),
                    "ctx": {"error": ValueError("is out of range")},
                }
            ],
        ) from None


def _out_of_range(value: Any) -> bool:
    try:
        parse_time(value)
    except ValueError:
        return isinstance(value, str)
    return False


def issues(exc: ValidationError, prefix: Sequence[str | int] = ()) -> list[dict[str, Any]]:
    found = validation_errors(exc.errors(include_url=False, include_input=False))
    for issue in found:
        issue["loc"] = [*prefix, *issue["loc"]]
    return found


async def record(
    session: AsyncSession, tenant_id: uuid.UUID, events: Sequence[Event], *, source: str
) -> list[Recorded]:
    """Ingest ``events``; one result per event, in order."""
    if not events:
        return []
    result = await ingest(session, tenant_id, events, source=source)
    recorded: list[Recorded] = []
    for outcome in result.outcomes:
        if outcome.status == "accepted":
            recorded.append(Recorded(outcome.id, "accepted"))
        elif outcome.status in ("duplicate", "conflict"):
            recorded.append(Recorded(outcome.id, "duplicate"))
        else:
            recorded.append(Recorded(None, "invalid", tuple(getattr(outcome, "errors", ()))))
    return recorded


@dataclass(frozen=True, slots=True)
class RecordedPayload:
    """One mapped payload and what became of it."""

    payload: dict[str, Any]
    result: Recorded


async def ingest_mapped(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    payloads: Sequence[dict[str, Any]],
    *,
    source: str,
    label: str,
) -> list[RecordedPayload]:
    """Validate and ingest the payloads one foreign event maps to, all or nothing: a payload
    that fails validation, or that ingest refuses, raises InvalidInput (a 422 the sender
    retries) and the request's transaction rolls back. ``label`` names the foreign event in
    the error (``"The Paddle event evt_..."``)."""
    events: list[Event] = []
    for index, payload in enumerate(payloads):
        try:
            events.append(validate(payload))
        except ValidationError as exc:
            raise InvalidInput(
                f"{label} maps to an invalid Holdfast event; see errors.",
                errors=issues(exc, ("mapped", index)),
            ) from None
    results = await record(session, tenant_id, events, source=source)
    refused = [
        {**e, "loc": ["mapped", index, *list(e.get("loc", []))[1:]]}
        for index, r in enumerate(results)
        for e in r.errors
    ]
    if refused:
        raise InvalidInput(
            f"{label} maps to an event Holdfast refuses; see errors.", errors=refused
        )
    return [RecordedPayload(p, r) for p, r in zip(payloads, results, strict=True)]


def receipt_status(
    recorded: Sequence[RecordedPayload],
) -> Literal["recorded", "duplicate", "ignored"]:
    """recorded: at least one event was new; duplicate: all had been recorded; ignored:
    nothing to record."""
    if not recorded:
        return "ignored"
    if any(r.result.status == "accepted" for r in recorded):
        return "recorded"
    return "duplicate"
