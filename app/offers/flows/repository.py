"""SQL over cancellation flows. Every statement is filtered by tenant."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.customers import repository as customers
from app.models import CancellationFlow, Event


async def lock_customer(
    session: AsyncSession, tenant_id: uuid.UUID, customer_id: str
) -> dict[str, Any] | None:
    """The customer's row, locked for the rest of the transaction (flows of one customer start
    and are decided one at a time, and ingestion waits for them), or None when unknown.

    A plain row, not an ORM object: ingestion rewrites the row in this transaction through the
    driver, and an identity-mapped object would go stale unnoticed.
    """
    return (await customers.lock_customers(session, tenant_id, [customer_id])).get(customer_id)


async def customer_exists(session: AsyncSession, tenant_id: uuid.UUID, customer_id: str) -> bool:
    return await customers.customer_exists(session, tenant_id, customer_id)


async def get_flow(
    session: AsyncSession, tenant_id: uuid.UUID, flow_id: uuid.UUID, *, for_update: bool = False
) -> CancellationFlow | None:
    statement = select(CancellationFlow).where(
        CancellationFlow.tenant_id == tenant_id, CancellationFlow.id == flow_id
    )
    if for_update:
        statement = statement.with_for_update()
    return await session.scalar(statement.execution_options(populate_existing=True))


async def open_flow(
    session: AsyncSession, tenant_id: uuid.UUID, customer_id: str, now: datetime
) -> CancellationFlow | None:
    """The customer's open flow that has not expired by ``now``, if any."""
    return await session.scalar(
        select(CancellationFlow)
        .where(
            CancellationFlow.tenant_id == tenant_id,
            CancellationFlow.customer_id == customer_id,
            CancellationFlow.status == "open",
            CancellationFlow.expires_at > now,
        )
        .execution_options(populate_existing=True)
    )


async def list_flows(
    session: AsyncSession, tenant_id: uuid.UUID, customer_id: str, limit: int
) -> Sequence[CancellationFlow]:
    """The customer's flows, newest first."""
    result = await session.scalars(
        select(CancellationFlow)
        .where(CancellationFlow.tenant_id == tenant_id, CancellationFlow.customer_id == customer_id)
        .order_by(CancellationFlow.created_at.desc(), CancellationFlow.id.desc())
        .limit(limit)
        .execution_options(populate_existing=True)
    )
    return result.all()


async def mark_abandoned(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    now: datetime,
    *,
    flow_id: uuid.UUID | None = None,
    customer_id: str | None = None,
) -> Sequence[CancellationFlow]:
    """Rewrite open flows that expired by ``now`` as ``abandoned`` (ended at their expiry), in
    one statement; returns the flows this call changed.

    Rows another transaction holds are skipped, not waited for: that transaction is deciding
    or sweeping them itself, and readers treat an expired open flow as abandoned anyway. So
    sweeps never wait on each other and never deadlock, and each flow is marked once.
    """
    due = select(CancellationFlow.id).where(
        CancellationFlow.tenant_id == tenant_id,
        CancellationFlow.status == "open",
        CancellationFlow.expires_at <= now,
    )
    if flow_id is not None:
        due = due.where(CancellationFlow.id == flow_id)
    if customer_id is not None:
        due = due.where(CancellationFlow.customer_id == customer_id)
    due_ids = due.order_by(CancellationFlow.id).with_for_update(skip_locked=True).cte("due")
    result = await session.scalars(
        update(CancellationFlow)
        .where(
            CancellationFlow.tenant_id == tenant_id,
            CancellationFlow.id.in_(select(due_ids.c.id)),
        )
        .values(status="abandoned", decided_at=CancellationFlow.expires_at)
        .returning(CancellationFlow)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    return result.all()


async def pause_times(
    session: AsyncSession, tenant_id: uuid.UUID, customer_id: str, since: datetime, now: datetime
) -> list[datetime]:
    """When the customer's pause events occurred, in [since, now]."""
    result = await session.scalars(
        select(Event.occurred_at).where(
            Event.tenant_id == tenant_id,
            Event.customer_id == customer_id,
            Event.type == "pause",
            Event.occurred_at >= since,
            Event.occurred_at <= now,
        )
    )
    return list(result.all())


async def accepted_offers(
    session: AsyncSession, tenant_id: uuid.UUID, customer_id: str, since: datetime, now: datetime
) -> list[tuple[str, datetime]]:
    """(kind, when) of every offer the customer accepted in [since, now]."""
    rows = await session.execute(
        select(CancellationFlow.accepted_kind, CancellationFlow.decided_at).where(
            CancellationFlow.tenant_id == tenant_id,
            CancellationFlow.customer_id == customer_id,
            CancellationFlow.status == "accepted",
            CancellationFlow.decided_at >= since,
            CancellationFlow.decided_at <= now,
        )
    )
    return [(kind, at) for kind, at in rows if kind is not None and at is not None]
