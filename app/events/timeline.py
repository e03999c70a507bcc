"""A customer's event timeline, newest first, with cursor pagination."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app import cursors
from app.customers.repository import customer_exists
from app.errors import NotFound
from app.models import Event


async def customer_events(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    customer_id: str,
    *,
    types: Sequence[str] | None,
    before: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> Sequence[Event]:
    """A page of a customer's events, newest first, strictly after the ``before`` cursor."""
    query = select(Event).where(Event.tenant_id == tenant_id, Event.customer_id == customer_id)
    if types:
        query = query.where(Event.type.in_(types))
    if before is not None:
        at, event_id = before
        query = query.where(
            or_(Event.occurred_at < at, and_(Event.occurred_at == at, Event.id < event_id))
        )
    query = query.order_by(Event.occurred_at.desc(), Event.id.desc()).limit(limit)
    return (await session.scalars(query)).all()


def encode_cursor(event: Event) -> str:
    return cursors.encode_time_id(event.occurred_at, event.id)


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    return cursors.decode_time_id(cursor)


async def list_customer_events(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    customer_id: str,
    *,
    types: Sequence[str] | None,
    cursor: str | None,
    limit: int,
) -> tuple[Sequence[Event], str | None]:
    before = decode_cursor(cursor) if cursor else None
    if not await customer_exists(session, tenant_id, customer_id):
        raise NotFound(f"No customer {customer_id!r} in this tenant.")
    page = await customer_events(
        session, tenant_id, customer_id, types=types, before=before, limit=limit + 1
    )
    next_cursor = encode_cursor(page[limit - 1]) if len(page) > limit else None
    return page[:limit], next_cursor
