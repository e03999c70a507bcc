"""CloudEvents on the ingest path: each event is mapped, validated like ``POST /v1/events`` and
ingested; a batch keeps its valid events when others are rejected (like ``/v1/events/batch``).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import InvalidInput
from app.events.schemas import Event
from app.integrations import service as integrations
from app.integrations.cloudevents.mapping import CloudEvent, from_structured, to_payload
from app.integrations.common import MappingError
from app.integrations.errors import BadRequest, UnsupportedMediaType


def _event(ce: CloudEvent, loc: tuple[str | int, ...] = ()) -> Event:
    payload = to_payload(ce, loc)
    try:
        return integrations.validate(payload)
    except ValidationError as exc:
        raise InvalidInput(
            "The CloudEvent's data does not make a valid event; see errors.",
            errors=[
                {**issue, "loc": [*loc, "data", *issue["loc"][1:]]}
                for issue in integrations.issues(exc)
            ],
        ) from None


async def receive_one(
    session: AsyncSession, tenant_id: uuid.UUID, ce: CloudEvent
) -> integrations.Recorded:
    """Record one event; BadRequest (400) for missing or malformed attributes, InvalidInput
    (422) for data that does not validate."""
    try:
        event = _event(ce)
    except MappingError as exc:
        raise BadRequest(f"Not a usable CloudEvent: {exc.msg}", errors=[exc.issue()]) from None
    recorded = (await integrations.record(session, tenant_id, [event], source="cloudevents"))[0]
    if recorded.status == "invalid":
        raise InvalidInput(
            "The CloudEvent's data does not make a valid event; see errors.",
            errors=_data_issues(recorded.errors),
        )
    return recorded


def _data_issues(errors: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Ingest's issues (located as ``[type, field]``) located in the CloudEvent's data."""
    return [{**e, "loc": ["data", *list(e.get("loc", []))[1:]]} for e in errors]


@dataclass(frozen=True)
class ItemResult:
    index: int
    status: Literal["accepted", "duplicate", "rejected"]
    id: uuid.UUID | None = None
    errors: list[dict[str, Any]] | None = None


async def receive_batch(
    session: AsyncSession, tenant_id: uuid.UUID, items: Sequence[Any]
) -> list[ItemResult]:
    results: list[ItemResult | None] = [None] * len(items)
    valid: list[tuple[int, Event]] = []
    for index, item in enumerate(items):
        try:
            valid.append((index, _event(from_structured(item))))
        except MappingError as exc:
            results[index] = ItemResult(index, "rejected", errors=[exc.issue()])
        except InvalidInput as exc:
            results[index] = ItemResult(
                index, "rejected", errors=[dict(e) for e in exc.errors or []]
            )
        except UnsupportedMediaType as exc:
            issue = {"loc": ["datacontenttype"], "msg": exc.detail, "type": "value_error"}
            results[index] = ItemResult(index, "rejected", errors=[issue])
    recorded = await integrations.record(
        session, tenant_id, [event for _, event in valid], source="cloudevents"
    )
    for (index, _), outcome in zip(valid, recorded, strict=True):
        if outcome.status == "invalid":
            results[index] = ItemResult(index, "rejected", errors=_data_issues(outcome.errors))
        else:
            results[index] = ItemResult(index, outcome.status, id=outcome.id)
    return [r for r in results if r is not None]
