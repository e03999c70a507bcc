"""SQL for ``health_dirty``: the customers whose materialised health score is older than their
events. Ingest marks them (:func:`app.customers.service.apply_new_events`); the scorers in
``app.health.freshness`` claim and clear the marks.

One lock order for everyone: the customer row, then its mark. Ingest locks its customers, then
marks them; a scorer claims marks by locking their customers (``SKIP LOCKED``: replicas never
wait on each other, nor on an ingest still writing a customer, whose mark simply waits for the
next round), then deletes the marks; a tenant's deletion cascades to customers before marks.
A mark only changes under its customer's lock, so a claimed one cannot be renewed unseen.
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


_CLAIM = """
SELECT c.customer_id
FROM health_dirty d
JOIN customers c ON c.tenant_id = d.tenant_id AND c.customer_id = d.customer_id
WHERE d.tenant_id = $1 {scope}
ORDER BY d.customer_id
{limit}
FOR UPDATE OF c {skip}
"""


async def claim(session: AsyncSession, tenant_id: uuid.UUID, limit: int) -> list[str]:
    """Up to ``limit`` dirty customers no other transaction holds, locked until commit."""
    conn = await driver_connection(session)
    records = await conn.fetch(
        _CLAIM.format(scope="", limit="LIMIT $2", skip="SKIP LOCKED"), tenant_id, limit
    )
    return [r["customer_id"] for r in records]


async def claim_these(
    session: AsyncSession, tenant_id: uuid.UUID, customer_ids: Sequence[str]
) -> list[str]:
    """Those of ``customer_ids`` that are dirty, locked until commit (waiting for a scorer or an
    ingest that holds one)."""
    conn = await driver_connection(session)
    records = await conn.fetch(
        _CLAIM.format(scope="AND d.customer_id = ANY($2::text[])", limit="", skip=""),
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
