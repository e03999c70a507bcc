"""SQL for customer state: locking and writing a batch's customers, status changes, usage
rollups (asyncpg, one statement per batch), and the reads behind the customer endpoints."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, or_, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.customers.fold import Change, FoldEvent
from app.db import driver_connection
from app.models import Customer, Event, TenantPurchaseRhythm

LIFECYCLE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("status", "text"),
    ("plan", "text"),
    ("mrr", "bigint"),
    ("plan_mrr", "bigint"),
    ("currency", "text"),
    ("subscribed_at", "timestamptz"),
    ("paused_at", "timestamptz"),
    ("paused_until", "timestamptz"),
    ("cancel_requested_at", "timestamptz"),
    ("cancel_effective_at", "timestamptz"),
    ("cancelled_at", "timestamptz"),
    ("cancel_reason", "text"),
    ("reactivated_at", "timestamptz"),
    ("nps_latest", "smallint"),
    ("nps_previous", "smallint"),
    ("nps_at", "timestamptz"),
    ("discount_until", "timestamptz"),
    ("discount_base_mrr", "bigint"),
)
TOTALS_COLUMNS: tuple[tuple[str, str], ...] = (
    ("event_count", "bigint"),
    ("first_seen_at", "timestamptz"),
    ("last_seen_at", "timestamptz"),
    ("usage_events", "bigint"),
    ("usage_quantity", "bigint"),
    ("last_usage_at", "timestamptz"),
    ("purchase_count", "bigint"),
    ("revenue_total", "bigint"),
    ("last_purchase_at", "timestamptz"),
    ("payment_failed_count", "bigint"),
    ("last_payment_failed_at", "timestamptz"),
)
STATE_COLUMNS = LIFECYCLE_COLUMNS + TOTALS_COLUMNS

_LOCK = """
INSERT INTO customers (tenant_id, customer_id, first_seen_at, last_seen_at)
SELECT $1, customer_id, first_seen_at, last_seen_at
FROM unnest($2::text[], $3::timestamptz[], $4::timestamptz[])
     AS u(customer_id, first_seen_at, last_seen_at)
ORDER BY customer_id
ON CONFLICT (tenant_id, customer_id) DO UPDATE SET updated_at = EXCLUDED.updated_at
RETURNING *
"""

_SET = ", ".join(f"{name} = u.{name}" for name, _ in STATE_COLUMNS)
_NAMES = ", ".join(name for name, _ in STATE_COLUMNS)
_ARRAYS = ", ".join(f"${i}::{kind}[]" for i, (_, kind) in enumerate(STATE_COLUMNS, start=3))
_UPDATE = f"""
UPDATE customers AS c SET {_SET}, updated_at = now()
FROM unnest($2::text[], {_ARRAYS}) AS u(customer_id, {_NAMES})
WHERE c.tenant_id = $1 AND c.customer_id = u.customer_id
"""

CHANGE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("customer_id", "text"),
    ("effective_at", "timestamptz"),
    ("seq", "smallint"),
    ("kind", "text"),
    ("status", "text"),
    ("previous_status", "text"),
    ("plan", "text"),
    ("mrr", "bigint"),
    ("previous_mrr", "bigint"),
    ("currency", "text"),
    ("reason", "text"),
    ("event_id", "uuid"),
)
_CHANGE_NAMES = ", ".join(name for name, _ in CHANGE_COLUMNS)
_CHANGE_ARRAYS = ", ".join(f"${i}::{kind}[]" for i, (_, kind) in enumerate(CHANGE_COLUMNS, start=2))
_INSERT_CHANGES = f"""
INSERT INTO customer_status_changes (tenant_id, {_CHANGE_NAMES})
SELECT $1, {_CHANGE_NAMES} FROM unnest({_CHANGE_ARRAYS}) AS u({_CHANGE_NAMES})
"""

_ADD_USAGE = """
INSERT INTO usage_daily (tenant_id, customer_id, day, quantity, events)
SELECT $1, customer_id, day, quantity, events
FROM unnest($2::text[], $3::date[], $4::bigint[], $5::int[])
     AS u(customer_id, day, quantity, events)
ORDER BY customer_id, day
ON CONFLICT (tenant_id, customer_id, day) DO UPDATE
SET quantity = usage_daily.quantity + EXCLUDED.quantity,
    events = usage_daily.events + EXCLUDED.events
"""


@dataclass(frozen=True, slots=True)
class SeenRange:
    customer_id: str
    first_seen_at: datetime
    last_seen_at: datetime


async def lock_customers(
    session: AsyncSession, tenant_id: uuid.UUID, seen: Sequence[SeenRange]
) -> dict[str, dict[str, Any]]:
    """Create missing customers and lock every one of them for the rest of the transaction
    (in customer id order); returns their current rows."""
    ordered = sorted(seen, key=lambda s: s.customer_id)
    conn = await driver_connection(session)
    records = await conn.fetch(
        _LOCK,
        tenant_id,
        [s.customer_id for s in ordered],
        [s.first_seen_at for s in ordered],
        [s.last_seen_at for s in ordered],
    )
    return {r["customer_id"]: dict(r) for r in records}


async def update_customers(
    session: AsyncSession, tenant_id: uuid.UUID, rows: Sequence[Mapping[str, Any]]
) -> None:
    if not rows:
        return
    conn = await driver_connection(session)
    columns = [[row["customer_id"] for row in rows]]
    columns += [[row[name] for row in rows] for name, _ in STATE_COLUMNS]
    await conn.execute(_UPDATE, tenant_id, *columns)


async def replace_status_changes(
    session: AsyncSession, tenant_id: uuid.UUID, changes: Mapping[str, Sequence[Change]]
) -> None:
    """Rewrite the status-change history of the re-folded customers."""
    if not changes:
        return
    conn = await driver_connection(session)
    await conn.execute(
        "DELETE FROM customer_status_changes"
        " WHERE tenant_id = $1 AND customer_id = ANY($2::text[])",
        tenant_id,
        sorted(changes),
    )
    flat = [(cid, c) for cid in sorted(changes) for c in changes[cid]]
    if not flat:
        return
    columns: list[list[Any]] = [[cid for cid, _ in flat]]
    columns += [[getattr(c, name) for _, c in flat] for name, _ in CHANGE_COLUMNS[1:]]
    await conn.execute(_INSERT_CHANGES, tenant_id, *columns)


async def add_usage(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    usage: Mapping[tuple[str, date], tuple[int, int]],
) -> None:
    """Add ``{(customer_id, day): (quantity, events)}`` to the daily rollup."""
    if not usage:
        return
    keys = sorted(usage)
    conn = await driver_connection(session)
    await conn.execute(
        _ADD_USAGE,
        tenant_id,
        [k[0] for k in keys],
        [k[1] for k in keys],
        [usage[k][0] for k in keys],
        [usage[k][1] for k in keys],
    )


async def get_customer(
    session: AsyncSession, tenant_id: uuid.UUID, customer_id: str
) -> Customer | None:
    return await session.get(Customer, (tenant_id, customer_id))


# Per customer: its purchase days (UTC dates with a purchase), the median gap in days between
# consecutive ones (NULL before a second day) and the last purchase instant; the definitions of
# app.customers.rhythm. ``{where}`` narrows the customers (filtering on events' columns).
RHYTHM_CTES = """
purchase_days AS (
    SELECT customer_id, (occurred_at AT TIME ZONE 'UTC')::date AS day, max(occurred_at) AS last_at
    FROM events
    WHERE tenant_id = :tenant_id AND type = 'purchase' {where}
    GROUP BY 1, 2
),
rhythm AS (
    SELECT customer_id, count(*) AS purchase_days,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY gap) AS median_gap,
           max(last_at) AS last_purchase_at
    FROM (
        SELECT customer_id, last_at,
               day - lag(day) OVER (PARTITION BY customer_id ORDER BY day) AS gap
        FROM purchase_days
    ) AS gaps
    GROUP BY customer_id
)"""

_CUSTOMER_RHYTHM = f"""
WITH {RHYTHM_CTES.format(where="AND customer_id = :customer_id")}
SELECT r.purchase_days, r.median_gap, r.last_purchase_at,
       (SELECT array_agg(DISTINCT currency) FROM events
        WHERE tenant_id = :tenant_id AND customer_id = :customer_id AND type = 'purchase')
           AS currencies
FROM rhythm r
"""

_TENANT_MEDIAN = f"""
WITH {RHYTHM_CTES.format(where="")}
SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY median_gap) AS median, count(*) AS buyers
FROM rhythm
WHERE median_gap IS NOT NULL
"""


@dataclass(frozen=True, slots=True)
class PurchaseFacts:
    purchase_days: int
    median_interval_days: float | None
    last_purchase_at: datetime | None
    currencies: list[str]


async def purchase_facts(
    session: AsyncSession, tenant_id: uuid.UUID, customer_id: str
) -> PurchaseFacts:
    """The customer's purchase days, median interval, last purchase and purchase currencies."""
    row = (
        (
            await session.execute(
                text(_CUSTOMER_RHYTHM), {"tenant_id": tenant_id, "customer_id": customer_id}
            )
        )
        .mappings()
        .one_or_none()
    )
    if row is None:
        return PurchaseFacts(0, None, None, [])
    median = row["median_gap"]
    return PurchaseFacts(
        purchase_days=int(row["purchase_days"]),
        median_interval_days=None if median is None else float(median),
        last_purchase_at=row["last_purchase_at"],
        currencies=sorted(row["currencies"] or []),
    )


async def tenant_median_interval(session: AsyncSession, tenant_id: uuid.UUID) -> float | None:
    """The median over the tenant's repeat buyers of their median interval (None without any),
    computed from every purchase now."""
    median = await session.scalar(text(_TENANT_MEDIAN), {"tenant_id": tenant_id})
    return None if median is None else float(median)


async def store_tenant_median_interval(
    session: AsyncSession, tenant_id: uuid.UUID, now: datetime
) -> None:
    """Compute ``tenant_median_interval`` and store it in ``tenant_purchase_rhythms``. Two
    statements: a plain SELECT may use parallel workers, an INSERT ... SELECT may not."""
    row = (await session.execute(text(_TENANT_MEDIAN), {"tenant_id": tenant_id})).one()
    values = {
        "median_interval_days": None if row.median is None else float(row.median),
        "repeat_buyers": int(row.buyers),
        "computed_at": now,
    }
    await session.execute(
        pg_insert(TenantPurchaseRhythm)
        .values(tenant_id=tenant_id, **values)
        .on_conflict_do_update(index_elements=[TenantPurchaseRhythm.tenant_id], set_=values)
    )


async def stored_tenant_median_interval(
    session: AsyncSession, tenant_id: uuid.UUID
) -> tuple[float | None] | None:
    """The stored median, as a 1-tuple (its value may be None), or None if never stored."""
    row = await session.get(TenantPurchaseRhythm, tenant_id)
    return None if row is None else (row.median_interval_days,)


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


async def lifecycle_events(
    session: AsyncSession, tenant_id: uuid.UUID, customer_ids: Sequence[str]
) -> dict[str, list[FoldEvent]]:
    """Every order-sensitive event of these customers (usage and failed payments excluded)."""
    if not customer_ids:
        return {}
    conn = await driver_connection(session)
    records = await conn.fetch(
        f"""
        SELECT customer_id, {FOLD_COLUMNS}
        FROM events
        WHERE tenant_id = $1 AND customer_id = ANY($2::text[])
          AND type <> 'usage' AND type <> 'payment_failed'
        """,
        tenant_id,
        list(customer_ids),
    )
    out: dict[str, list[FoldEvent]] = {customer_id: [] for customer_id in customer_ids}
    for r in records:
        out[r["customer_id"]].append(fold_event(r))
    return out


# The event columns folding reads, and the conversion of such a row.
FOLD_COLUMNS = (
    "id, idempotency_key, type, occurred_at, amount, currency, plan, mrr, quantity, reason,"
    " effective_at, resume_at, nps, discount_until"
)


def fold_event(r: Mapping[str, Any]) -> FoldEvent:
    return FoldEvent(
        id=r["id"],
        key=r["idempotency_key"],
        type=r["type"],
        occurred_at=r["occurred_at"],
        amount=r["amount"],
        currency=r["currency"],
        plan=r["plan"],
        mrr=r["mrr"],
        quantity=r["quantity"],
        reason=r["reason"],
        effective_at=r["effective_at"],
        resume_at=r["resume_at"],
        nps=r["nps"],
        discount_until=r["discount_until"],
    )


async def customer_rows(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    customer_ids: Sequence[str] | None,
    *,
    lock: bool = False,
) -> list[dict[str, Any]]:
    """Customer rows (all of the tenant's when ``customer_ids`` is None), in id order. With
    ``lock``, the rows stay locked to the end of the transaction (in id order, like ingest), so
    a rescore and an ingest of the same customer apply one after the other."""
    conn = await driver_connection(session)
    suffix = " ORDER BY customer_id" + (" FOR UPDATE" if lock else "")
    if customer_ids is None:
        records = await conn.fetch(
            "SELECT * FROM customers WHERE tenant_id = $1" + suffix, tenant_id
        )
    else:
        if not customer_ids:
            return []
        # The id range bounds the index read to the chunk under any plan (see
        # app/health/repository.py).
        ids = list(customer_ids)
        records = await conn.fetch(
            "SELECT * FROM customers WHERE tenant_id = $1 AND customer_id = ANY($2::text[])"
            " AND customer_id BETWEEN $3 AND $4" + suffix,
            tenant_id,
            ids,
            min(ids),
            max(ids),
        )
    return [dict(r) for r in records]


async def customer_ids_after(
    session: AsyncSession, tenant_id: uuid.UUID, after: str, limit: int
) -> list[str]:
    """The next ``limit`` customer ids after ``after``, in id order (keyset paging)."""
    conn = await driver_connection(session)
    records = await conn.fetch(
        "SELECT customer_id FROM customers WHERE tenant_id = $1 AND customer_id > $2"
        " ORDER BY customer_id LIMIT $3",
        tenant_id,
        after,
        limit,
    )
    return [r["customer_id"] for r in records]


async def customer_exists(session: AsyncSession, tenant_id: uuid.UUID, customer_id: str) -> bool:
    conn = await driver_connection(session)
    found = await conn.fetchval(
        "SELECT 1 FROM customers WHERE tenant_id = $1 AND customer_id = $2", tenant_id, customer_id
    )
    return found is not None


async def customers_between(session: AsyncSession, tenant_id: uuid.UUID, lo: str, hi: str) -> int:
    """How many customers the tenant has with ``lo <= customer_id <= hi``."""
    conn = await driver_connection(session)
    count: int = await conn.fetchval(
        "SELECT count(*) FROM customers WHERE tenant_id = $1 AND customer_id BETWEEN $2 AND $3",
        tenant_id,
        lo,
        hi,
    )
    return count


async def sample_customer_ids(
    session: AsyncSession, tenant_id: uuid.UUID, at_most: int
) -> list[str] | None:
    """About ``at_most`` of the tenant's customer ids, drawn by a repeatable page sample; None
    when the tenant has no more than ``at_most`` customers (use them all)."""
    conn = await driver_connection(session)
    total: int = await conn.fetchval(
        "SELECT count(*) FROM customers WHERE tenant_id = $1", tenant_id
    )
    if total <= at_most:
        return None
    percent = 100.0 * at_most / total
    records = await conn.fetch(
        "SELECT customer_id FROM customers TABLESAMPLE SYSTEM ($2) REPEATABLE (13)"
        " WHERE tenant_id = $1",
        tenant_id,
        percent,
    )
    return [r["customer_id"] for r in records]


async def first_seen_times(session: AsyncSession, tenant_id: uuid.UUID) -> list[Any]:
    """``(customer_id, first_seen_at)`` of every customer of the tenant, in id order."""
    conn = await driver_connection(session)
    return list(
        await conn.fetch(
            "SELECT customer_id, first_seen_at FROM customers WHERE tenant_id = $1"
            " ORDER BY customer_id",
            tenant_id,
        )
    )
