"""Segment's HTTP Tracking API on Holdfast's ingest path, and the tenant's track mappings.

A batch behaves like Segment's own endpoint: the request succeeds (200, ``success: true``) when
it is well-formed and authorized, and each message is recorded on its own. A message that cannot
be recorded (a userId outside the customer id alphabet, an unusable typed field, over 32 KB) is
skipped and reported in ``errors``; the rest are kept. Single-message endpoints (``/v1/track``,
``/v1/identify``) answer 400 for such a message instead.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.customers.traits import TraitsUpdate, merge_traits
from app.errors import PayloadTooLarge
from app.events.schemas import Event
from app.integrations import service as integrations
from app.integrations.common import MappingError
from app.integrations.errors import BadRequest
from app.integrations.segment import repository
from app.integrations.segment.mapping import (
    DEFAULT_MAPPINGS,
    Identify,
    Ignored,
    MessageTooLarge,
    interpret,
    message_id,
)


@dataclass
class MessageResult:
    index: int
    message_id: str | None
    errors: list[dict[str, Any]]


@dataclass
class SegmentResult:
    accepted: int = 0
    duplicates: int = 0
    ignored: int = 0
    rejected: list[MessageResult] = field(default_factory=list)


async def receive(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    messages: Sequence[Any],
    *,
    sent_at: Any = None,
    kind: str | None = None,
    received_at: datetime | None = None,
) -> SegmentResult:
    """Record ``messages`` (a batch's, or one message with ``kind`` given by the endpoint)."""
    now = received_at or datetime.now(UTC)
    custom = await repository.custom_mappings(session, tenant_id)
    result = SegmentResult()
    events: list[Event] = []
    event_messages: list[tuple[int, str | None]] = []
    identifies: list[TraitsUpdate] = []
    for index, message in enumerate(messages):
        mid = message_id(message) if isinstance(message, dict) else None
        try:
            interpreted = interpret(message, custom, now, sent_at=sent_at, kind=kind)
            if isinstance(interpreted, Ignored):
                result.ignored += 1
            elif isinstance(interpreted, Identify):
                identifies.append(
                    TraitsUpdate(interpreted.customer_id, interpreted.traits, interpreted.at)
                )
            else:
                events.append(integrations.validate(interpreted.payload))
                event_messages.append((index, mid))
        except MessageTooLarge as exc:
            if kind is not None:
                raise PayloadTooLarge(exc.msg) from None
            result.rejected.append(MessageResult(index, mid, [exc.issue()]))
        except MappingError as exc:
            result.rejected.append(MessageResult(index, mid, [exc.issue()]))
        except ValidationError as exc:
            result.rejected.append(MessageResult(index, mid, _field_issues(exc)))

    if kind is not None and result.rejected:
        raise BadRequest(
            "The message cannot be recorded; see errors.", errors=result.rejected[0].errors
        )
    if identifies:
        # Touch every customer of the batch here, in id order, before ingest locks the event
        # customers: locking some rows here and others there could deadlock two batches.
        first_event: dict[str, datetime] = {}
        for event in events:
            seen = first_event.get(event.customer_id, event.occurred_at)
            first_event[event.customer_id] = min(seen, event.occurred_at)
        await merge_traits(
            session,
            tenant_id,
            [*identifies, *(TraitsUpdate(c, {}, at) for c, at in first_event.items())],
        )
        result.accepted += len(identifies)
    recorded = await integrations.record(session, tenant_id, events, source="segment")
    for (index, mid), outcome in zip(event_messages, recorded, strict=True):
        if outcome.status == "accepted":
            result.accepted += 1
        elif outcome.status == "duplicate":
            result.duplicates += 1
        else:
            issues = [{**e, "loc": ["event", *list(e.get("loc", []))[1:]]} for e in outcome.errors]
            result.rejected.append(MessageResult(index, mid, issues))
    if kind is not None and result.rejected:
        raise BadRequest(
            "The message cannot be recorded; see errors.", errors=result.rejected[0].errors
        )
    return result


def _field_issues(exc: ValidationError) -> list[dict[str, Any]]:
    """Validation issues of the mapped event, located by the event's field name (the union's
    type tag dropped from the path)."""
    issues = integrations.issues(exc)
    for issue in issues:
        loc = issue["loc"]
        issue["loc"] = ["event", *loc[1:]] if loc and isinstance(loc[0], str) else ["event"]
    return issues


@dataclass(frozen=True)
class MappingView:
    event_name: str
    event_type: str
    source: str


async def list_mappings(session: AsyncSession, tenant_id: uuid.UUID) -> list[MappingView]:
    """Defaults and the tenant's own mappings, the latter overriding, sorted by name."""
    custom = await repository.custom_mappings(session, tenant_id)
    merged = {name: MappingView(name, kind, "default") for name, kind in DEFAULT_MAPPINGS.items()}
    merged.update({name: MappingView(name, kind, "custom") for name, kind in custom.items()})
    return [merged[name] for name in sorted(merged)]


async def replace_mappings(
    session: AsyncSession, tenant_id: uuid.UUID, mappings: dict[str, str]
) -> list[MappingView]:
    await repository.replace_mappings(session, tenant_id, mappings)
    return await list_mappings(session, tenant_id)
