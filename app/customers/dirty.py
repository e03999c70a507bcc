"""SQL for ``health_dirty``: the customers whose materialised health score is older than their
events. Ingest marks them (:func:`app.customers.service.apply_new_events`); the scorers in
``app.health.freshness`` claim and clear the marks.

Lock order, shared with ingest: ingest locks its customers, then marks them (``ON CONFLICT DO
NOTHING`` never waits on a row a scorer has only locked); a scorer claims marks first (``SKIP
LOCKED``: replicas never wait on each other), then locks the customers, which waits for any
ingest still writing them, so the score it computes includes those events.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.db import driver_connection

_MARK = """
INSERT INTO health_dirty (tenant_id, customer_id, marked_at)
SELECT $1, customer_id, $3 FROM unnest($2::text[]) AS u(customer_id) ORDER BY customer_id
ON CONFLICT (tenant_id, customer_id) DO NOTHING
"""


async def mark(
    session: AsyncSession, tenant_id: uuid.UUID, customer_ids: Sequence[str], now: datetime
) -> None:
    """Mark customers dirty; an existing mark keeps its (older) time."""
    if not customer_ids:
        return
    conn = await driver_connection(session)
    await conn.execute(_MARK, tenant_id, sorted(set(customer_ids)), now)


async def claim(session: AsyncSession, tenant_id: uuid.UUID, limit: int) -> list[str]:
    """Up to ``limit`` dirty customers no other transaction has claimed, locked until commit."""
    conn = await driver_connection(session)
    records = await conn.fetch(
        "SELECT customer_id FROM health_dirty WHERE tenant_id = $1"
        " ORDER BY customer_id LIMIT $2 FOR UPDATE SKIP LOCKED",
        tenant_id,
        limit,
    )
    return [r["customer_id"] for r in records]


async def claim_these(
    session: AsyncSession, tenant_id: uuid.UUID, customer_ids: Sequence[str]
) -> list[str]:
    """Those of ``customer_ids`` that are dirty, locked until commit (waiting for a scorer
    that holds one: when it commits, the mark is gone and the score is fresh)."""
    conn = await driver_connection(session)
    records = await conn.fetch(
        "SELECT customer_id FROM health_dirty WHERE tenant_id = $1"
        " AND customer_id = ANY($2::text[]) ORDER BY customer_id FOR UPDATE",
        tenant_id,
        sorted(set(customer_ids)),
    )
    return [r["customer_id"] for r in records]


async def clear(
    session: AsyncSession, tenant_id: uuid.UUID, customer_ids: Sequence[str]
) -> list[datetime]:
    """Remove the (claimed) marks; returns when each was made."""
    conn = await driver_connection(session)
    records = await conn.fetch(
        "DELETE FROM health_dirty WHERE tenant_id = $1 AND customer_id = ANY($2::text[])"
        " RETURNING marked_at",
        tenant_id,
        list(customer_ids),
    )
    return [r["marked_at"] for r in records]


async def tenants_with_marks(session: AsyncSession) -> list[uuid.UUID]:
    """Tenants with dirty customers (the scorer's round robin; no tenant's data is read)."""
    conn = await driver_connection(session)
    records = await conn.fetch("SELECT DISTINCT tenant_id FROM health_dirty ORDER BY tenant_id")
    return [r["tenant_id"] for r in records]
