"""SQL for webhook endpoints and the delivery outbox. Every statement filters by one tenant,
except the worker's unlocked count of due deliveries per tenant (:func:`due_by_tenant`)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    Boolean,
    DateTime,
    Integer,
    String,
    Table,
    Uuid,
    bindparam,
    func,
    insert,
    literal,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB, array
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import driver_connection
from app.models import WebhookDelivery, WebhookEndpoint
from app.webhooks.events import WILDCARD

_deliveries = cast(Table, WebhookDelivery.__table__)


async def get_endpoint(
    session: AsyncSession, tenant_id: uuid.UUID, endpoint_id: uuid.UUID, *, for_update: bool = False
) -> WebhookEndpoint | None:
    query = select(WebhookEndpoint).where(
        WebhookEndpoint.tenant_id == tenant_id,
        WebhookEndpoint.id == endpoint_id,
        WebhookEndpoint.deleted_at.is_(None),
    )
    if for_update:
        query = query.with_for_update()
    return await session.scalar(query)


async def list_endpoints(session: AsyncSession, tenant_id: uuid.UUID) -> Sequence[WebhookEndpoint]:
    result = await session.scalars(
        select(WebhookEndpoint)
        .where(WebhookEndpoint.tenant_id == tenant_id, WebhookEndpoint.deleted_at.is_(None))
        .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
    )
    return result.all()


async def count_endpoints(session: AsyncSession, tenant_id: uuid.UUID) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(WebhookEndpoint)
        .where(WebhookEndpoint.tenant_id == tenant_id, WebhookEndpoint.deleted_at.is_(None))
    )
    return int(count or 0)


async def cancel_pending(
    session: AsyncSession, tenant_id: uuid.UUID, endpoint_id: uuid.UUID, reason: str
) -> int:
    result = await session.execute(
        update(_deliveries)
        .where(
            _deliveries.c.tenant_id == tenant_id,
            _deliveries.c.endpoint_id == endpoint_id,
            _deliveries.c.status == "pending",
        )
        .values(status="cancelled", next_attempt_at=None, last_error=reason)
    )
    return cast(int, getattr(result, "rowcount", 0))


async def insert_for_subscribers(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    event_id: uuid.UUID,
    event_type: str,
    payload: dict[str, Any],
    now: datetime,
) -> None:
    """One pending delivery per active endpoint of the tenant subscribed to ``event_type``, in
    one INSERT ... SELECT."""
    endpoint = WebhookEndpoint
    subscribed = endpoint.event_types.op("&&", return_type=Boolean)(
        array([event_type, WILDCARD], type_=String(64))
    )
    rows = select(
        endpoint.tenant_id,
        func.gen_random_uuid(),
        endpoint.id,
        literal(event_id, Uuid()),
        literal(event_type, String(64)),
        literal(payload, JSONB()),
        literal("pending", String(16)),
        literal(0, Integer()),
        literal(now, DateTime(timezone=True)),
        literal(now, DateTime(timezone=True)),
    ).where(
        endpoint.tenant_id == tenant_id,
        endpoint.active.is_(True),
        endpoint.deleted_at.is_(None),
        subscribed,
    )
    await session.execute(
        insert(_deliveries).from_select(
            [
                "tenant_id",
                "id",
                "endpoint_id",
                "event_id",
                "event_type",
                "payload",
                "status",
                "attempts",
                "next_attempt_at",
                "created_at",
            ],
            rows,
        )
    )


async def list_deliveries(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    endpoint_id: uuid.UUID,
    *,
    status: str | None,
    limit: int,
    before: tuple[datetime, uuid.UUID] | None,
) -> Sequence[WebhookDelivery]:
    """Newest first; ``before`` is the (created_at, id) of the last row of the previous page."""
    query = select(WebhookDelivery).where(
        WebhookDelivery.tenant_id == tenant_id, WebhookDelivery.endpoint_id == endpoint_id
    )
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    if before is not None:
        query = query.where(
            tuple_(WebhookDelivery.created_at, WebhookDelivery.id) < tuple_(*before)
        )
    query = query.order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc()).limit(
        limit
    )
    return (await session.scalars(query)).all()


@dataclass(frozen=True)
class Claimed:
    """A delivery reserved for one attempt; ``attempts`` counts this one and fences the
    recording of its outcome."""

    tenant_id: uuid.UUID
    id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    payload: dict[str, Any]
    attempts: int
    url: str
    secret: str
    previous_secret: str | None = None
    previous_secret_expires_at: datetime | None = None


async def due_by_tenant(session: AsyncSession, now: datetime) -> list[tuple[uuid.UUID, int]]:
    """Tenants with pending deliveries due at ``now`` to active endpoints, with how many, the
    tenant whose oldest due delivery waited longest first. The one read that spans tenants: it
    locks nothing, and each tenant's share is then claimed by :func:`claim_due`."""
    d = WebhookDelivery
    e = WebhookEndpoint
    oldest = func.min(d.next_attempt_at)
    result = await session.execute(
        select(d.tenant_id, func.count())
        .join(e, (e.tenant_id == d.tenant_id) & (e.id == d.endpoint_id))
        .where(
            d.status == "pending",
            d.next_attempt_at <= now,
            e.active.is_(True),
            e.deleted_at.is_(None),
        )
        .group_by(d.tenant_id)
        .order_by(oldest, d.tenant_id)
    )
    return [(row[0], int(row[1])) for row in result]


async def claim_due(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    now: datetime,
    lease_until: datetime,
    limit: int,
) -> list[Claimed]:
    """Reserve up to ``limit`` of one tenant's pending deliveries due at ``now`` whose endpoint
    is active: count the attempt and push ``next_attempt_at`` to ``lease_until``. Rows another
    worker holds locked are skipped, so any number of workers can claim concurrently. One
    tenant per statement, so it is a single-shard query on a distributed database."""
    d = WebhookDelivery
    e = WebhookEndpoint
    due = (
        select(d.tenant_id, d.id)
        .join(e, (e.tenant_id == d.tenant_id) & (e.id == d.endpoint_id))
        .where(
            d.tenant_id == tenant_id,
            d.status == "pending",
            d.next_attempt_at <= now,
            e.active.is_(True),
            e.deleted_at.is_(None),
        )
        .order_by(d.next_attempt_at)
        .limit(limit)
        .with_for_update(of=d, skip_locked=True)
        .cte("due")
    )
    result = await session.execute(
        update(_deliveries)
        .where(
            _deliveries.c.tenant_id == tenant_id,
            _deliveries.c.tenant_id == due.c.tenant_id,
            _deliveries.c.id == due.c.id,
            e.tenant_id == _deliveries.c.tenant_id,
            e.id == _deliveries.c.endpoint_id,
        )
        .values(
            attempts=_deliveries.c.attempts + 1,
            last_attempt_at=now,
            next_attempt_at=lease_until,
        )
        .returning(
            _deliveries.c.tenant_id,
            _deliveries.c.id,
            _deliveries.c.event_id,
            _deliveries.c.event_type,
            _deliveries.c.payload,
            _deliveries.c.attempts,
            e.url,
            e.secret,
            e.previous_secret,
            e.previous_secret_expires_at,
        )
    )
    return [
        Claimed(
            tenant_id=row.tenant_id,
            id=row.id,
            event_id=row.event_id,
            event_type=row.event_type,
            payload=row.payload,
            attempts=row.attempts,
            url=row.url,
            secret=row.secret or "",
            previous_secret=row.previous_secret,
            previous_secret_expires_at=row.previous_secret_expires_at,
        )
        for row in result
    ]


@dataclass(frozen=True)
class Outcome:
    tenant_id: uuid.UUID
    id: uuid.UUID
    attempts: int
    status: str
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None


async def record_outcomes(session: AsyncSession, outcomes: Sequence[Outcome]) -> None:
    """Write attempts' outcomes. A row is only updated while it is still pending under the same
    attempt count: a worker whose lease ran out (and whose row was claimed again) or whose
    endpoint was deleted meanwhile changes nothing."""
    if not outcomes:
        return
    await session.execute(
        update(_deliveries)
        .where(
            _deliveries.c.tenant_id == bindparam("b_tenant_id"),
            _deliveries.c.id == bindparam("b_id"),
            _deliveries.c.attempts == bindparam("b_attempts"),
            _deliveries.c.status == "pending",
        )
        .values(
            status=bindparam("b_status"),
            next_attempt_at=bindparam("b_next_attempt_at"),
            last_status_code=bindparam("b_last_status_code"),
            last_error=bindparam("b_last_error"),
            delivered_at=bindparam("b_delivered_at"),
        ),
        [
            {
                "b_tenant_id": o.tenant_id,
                "b_id": o.id,
                "b_attempts": o.attempts,
                "b_status": o.status,
                "b_next_attempt_at": o.next_attempt_at,
                "b_last_status_code": o.last_status_code,
                "b_last_error": o.last_error,
                "b_delivered_at": o.delivered_at,
            }
            for o in outcomes
        ],
    )


_INSERT_MANY = """
INSERT INTO webhook_deliveries (tenant_id, id, endpoint_id, event_id, event_type, payload, status,
                                attempts, next_attempt_at, created_at)
SELECT e.tenant_id, gen_random_uuid(), e.id, u.event_id, u.event_type, u.payload, 'pending', 0,
       $2, $2
FROM unnest($3::uuid[], $4::text[], $5::jsonb[]) AS u(event_id, event_type, payload)
JOIN webhook_endpoints e
  ON e.tenant_id = $1 AND e.active AND e.deleted_at IS NULL
 AND e.event_types && ARRAY[u.event_type, '*']::varchar(64)[]
"""


async def insert_many_for_subscribers(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    events: Sequence[tuple[uuid.UUID, str, str]],
    now: datetime,
) -> None:
    """Like :func:`insert_for_subscribers` for many ``(event_id, event_type, payload JSON)`` at
    once, in one statement."""
    if not events:
        return
    conn = await driver_connection(session)
    await conn.execute(
        _INSERT_MANY,
        tenant_id,
        now,
        [e[0] for e in events],
        [e[1] for e in events],
        [e[2] for e in events],
    )
