"""SQL for customer state, the one place that reads, locks and writes customer rows: a batch's
counters, usage days and revenue (one statement), re-folded lifecycles and their status
changes, and the reads behind the customer endpoints and other packages.

Hot-path statements go to asyncpg with typed arrays (see CONTRIBUTING.md, "SQL style")."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from pydantic_core import to_json
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.customers.fold import Change, FoldEvent, Lifecycle
from app.customers.sql import LIFECYCLE_TYPES_SQL
from app.db import driver_connection, typed_columns
from app.models import Customer, CustomerStatusChange, TenantPurchaseRhythm

# Lifecycle columns of the customer row: the fields of ``fold.Lifecycle`` (its bookkeeping of
# which event scheduled what excepted), typed from the model.
LIFECYCLE_FIELDS: tuple[str, ...] = tuple(
    f.name
    for f in fields(Lifecycle)
    if f.name not in {"pending_cancel_event", "pause_event", "discount_event"}
)
LIFECYCLE_COLUMNS = typed_columns(Customer, (*LIFECYCLE_FIELDS, "mrr"))

# How each counter of ``fold.Totals`` is computed from a batch's new events (``e``) and merged
# into the stored row: (aggregate, merge). ``fold.totals_of`` is the reference; a property test
# holds this SQL equal to it. Revenue is per currency, in ``customer_revenue``.
COUNTERS: dict[str, tuple[str, str]] = {
    "event_count": ("count(*)", "add"),
    "first_seen_at": ("min(occurred_at)", "least"),
    "last_seen_at": ("max(occurred_at)", "greatest"),
    "usage_events": ("count(*) FILTER (WHERE type = 'usage')", "add"),
    "usage_quantity": (
        "coalesce(sum(coalesce(quantity, 1)) FILTER (WHERE type = 'usage'), 0)",
        "add",
    ),
    "last_usage_at": ("max(occurred_at) FILTER (WHERE type = 'usage')", "greatest"),
    "purchase_count": ("count(*) FILTER (WHERE type = 'purchase')", "add"),
    "last_purchase_at": ("max(occurred_at) FILTER (WHERE type = 'purchase')", "greatest"),
    "payment_failed_count": ("count(*) FILTER (WHERE type = 'payment_failed')", "add"),
    "last_payment_failed_at": (
        "max(occurred_at) FILTER (WHERE type = 'payment_failed')",
        "greatest",
    ),
}
_MERGE = {
    "add": "customers.{0} + EXCLUDED.{0}",
    "least": "least(customers.{0}, EXCLUDED.{0})",
    "greatest": "greatest(customers.{0}, EXCLUDED.{0})",
}
_MERGE_COUNTERS = ", ".join(
    f"{name} = {_MERGE[merge].format(name)}" for name, (_, merge) in COUNTERS.items()
)

# The facts of a batch's new events the counters need, one array each.
BATCH_COLUMNS: tuple[tuple[str, str], ...] = (
    ("customer_id", "text"),
    ("type", "text"),
    ("occurred_at", "timestamptz"),
    ("quantity", "bigint"),
    ("amount", "bigint"),
    ("currency", "text"),
)
_BATCH = ", ".join(f"{name} {kind}" for name, kind in BATCH_COLUMNS)

# One statement per batch: create or lock every touched customer (in id order, the one lock
# order of the customer rows) while merging its counters, add the usage days and the revenue
# per currency, and mark the customers' health scores stale (each mark after its customer's
# lock: see app.customers.dirty). The time is a parameter (no now() in ON CONFLICT DO UPDATE,
# which Citus refuses).
_APPLY_COUNTERS = f"""
WITH e AS (
    SELECT * FROM jsonb_to_recordset($3::jsonb) AS e({_BATCH})
), touched AS (
    INSERT INTO customers (tenant_id, customer_id, updated_at, {", ".join(COUNTERS)})
    SELECT $1, customer_id, $2, {", ".join(aggregate for aggregate, _ in COUNTERS.values())}
    FROM e GROUP BY customer_id ORDER BY customer_id
    ON CONFLICT (tenant_id, customer_id) DO UPDATE SET
        updated_at = EXCLUDED.updated_at,
        {_MERGE_COUNTERS}
    RETURNING customer_id
), days AS (
    INSERT INTO usage_daily (tenant_id, customer_id, day, quantity, events)
    SELECT $1, customer_id, (occurred_at AT TIME ZONE 'UTC')::date,
           sum(coalesce(quantity, 1)), count(*)
    FROM e WHERE type = 'usage' GROUP BY 2, 3 ORDER BY 2, 3
    ON CONFLICT (tenant_id, customer_id, day) DO UPDATE
    SET quantity = usage_daily.quantity + EXCLUDED.quantity,
        events = usage_daily.events + EXCLUDED.events
), revenue AS (
    INSERT INTO customer_revenue (tenant_id, customer_id, currency, amount, purchases)
    SELECT $1, customer_id, currency, coalesce(sum(amount), 0), count(*)
    FROM e WHERE type = 'purchase' AND currency IS NOT NULL GROUP BY 2, 3 ORDER BY 2, 3
    ON CONFLICT (tenant_id, customer_id, currency) DO UPDATE
    SET amount = customer_revenue.amount + EXCLUDED.amount,
        purchases = customer_revenue.purchases + EXCLUDED.purchases
), marked AS (
    INSERT INTO health_dirty (tenant_id, customer_id, marked_at)
    SELECT $1, customer_id, $2 FROM touched
    ON CONFLICT (tenant_id, customer_id) DO NOTHING
)
SELECT customer_id FROM touched
"""

_SET = ", ".join(f"{name} = u.{name}" for name, _ in LIFECYCLE_COLUMNS)
_NAMES = ", ".join(name for name, _ in LIFECYCLE_COLUMNS)
_ARRAYS = ", ".join(f"${i}::{kind}[]" for i, (_, kind) in enumerate(LIFECYCLE_COLUMNS, start=3))
_UPDATE_LIFECYCLE = f"""
UPDATE customers AS c SET {_SET}
FROM unnest($2::text[], {_ARRAYS}) AS u(customer_id, {_NAMES})
WHERE c.tenant_id = $1 AND c.customer_id = u.customer_id
"""

# The status history, as ``fold.Change`` has it.
CHANGE_COLUMNS = typed_columns(
    CustomerStatusChange, ("customer_id", *(f.name for f in fields(Change)))
)
_CHANGE_NAMES = ", ".join(name for name, _ in CHANGE_COLUMNS)
_CHANGE_ARRAYS = ", ".join(f"${i}::{kind}[]" for i, (_, kind) in enumerate(CHANGE_COLUMNS, start=2))
_INSERT_CHANGES = f"""
INSERT INTO customer_status_changes (tenant_id, {_CHANGE_NAMES})
SELECT $1, {_CHANGE_NAMES} FROM unnest({_CHANGE_ARRAYS}) AS u({_CHANGE_NAMES})
"""


async def apply_counters(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    events: Sequence[tuple[str, FoldEvent]],
    now: datetime,
) -> list[str]:
    """Merge new events into their customers' counters, usage days and revenue, creating the
    customers that are new, and mark their health scores stale; the touched customers stay
    locked to the end of the transaction. Returns their ids."""
    if not events:
        return []
    conn = await driver_connection(session)
    # One JSON array, parsed by PostgreSQL (see app.events.repository).
    batch = to_json(
        [
            {"customer_id": cid, **{name: getattr(e, name) for name, _ in BATCH_COLUMNS[1:]}}
            for cid, e in events
        ]
    )
    records = await conn.fetch(_APPLY_COUNTERS, tenant_id, now, batch.decode())
    return [r["customer_id"] for r in records]


async def lock_customers(
    session: AsyncSession, tenant_id: uuid.UUID, customer_ids: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """Lock existing customers for the rest of the transaction, in customer id order (the one
    order every writer of customer rows uses), and return their rows."""
    if not customer_ids:
        return {}
    conn = await driver_connection(session)
    records = await conn.fetch(
        "SELECT * FROM customers WHERE tenant_id = $1 AND customer_id = ANY($2::text[])"
        " ORDER BY customer_id FOR UPDATE",
        tenant_id,
        sorted(set(customer_ids)),
    )
    return {r["customer_id"]: dict(r) for r in records}


# What scoring reads of a customer row: its lifecycle, first seen and last usage.
SCORING_COLUMNS = ", ".join(("customer_id", "first_seen_at", "last_usage_at", *LIFECYCLE_FIELDS))


@dataclass(frozen=True)
class IdRange:
    """The customers with ``first <= customer_id`` and, unless ``end`` is None,
    ``customer_id < end``: one chunk of a walk over a tenant in id order."""

    first: str
    end: str | None


async def chunk_starts(session: AsyncSession, tenant_id: uuid.UUID, size: int) -> list[IdRange]:
    """The tenant's customers cut into ranges of ``size`` in id order (one index scan)."""
    conn = await driver_connection(session)
    starts = [
        r["customer_id"]
        for r in await conn.fetch(
            "SELECT customer_id FROM (SELECT customer_id,"
            " row_number() OVER (ORDER BY customer_id) AS n"
            " FROM customers WHERE tenant_id = $1) AS c"
            " WHERE n % $2 = 1 ORDER BY customer_id",
            tenant_id,
            size,
        )
    ]
    ends: list[str | None] = [*starts[1:], None] if starts else []
    return [IdRange(first, end) for first, end in zip(starts, ends, strict=True)]


async def customer_rows(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    customers: Sequence[str] | IdRange | None,
    *,
    lock: bool = False,
) -> list[Any]:
    """The :data:`SCORING_COLUMNS` of ``customers`` (ids, a range, or all of the tenant's when
    None), in id order, as driver records read by column name; with ``lock``, locked like
    :func:`lock_customers`."""
    conn = await driver_connection(session)
    sql = f"SELECT {SCORING_COLUMNS} FROM customers WHERE tenant_id = $1"
    args: list[Any] = [tenant_id]
    if isinstance(customers, IdRange):
        sql += " AND customer_id >= $2" + (" AND customer_id < $3" if customers.end else "")
        args += [customers.first] + ([customers.end] if customers.end else [])
    elif customers is not None:
        if not customers:
            return []
        sql += " AND customer_id = ANY($2::text[])"
        args.append(sorted(set(customers)))
    return list(
        await conn.fetch(sql + " ORDER BY customer_id" + (" FOR UPDATE" if lock else ""), *args)
    )


async def customer_exists(session: AsyncSession, tenant_id: uuid.UUID, customer_id: str) -> bool:
    conn = await driver_connection(session)
    found = await conn.fetchval(
        "SELECT 1 FROM customers WHERE tenant_id = $1 AND customer_id = $2", tenant_id, customer_id
    )
    return found is not None


async def update_lifecycle(
    session: AsyncSession, tenant_id: uuid.UUID, states: Mapping[str, Lifecycle]
) -> None:
    """Store re-folded lifecycle states (customers already locked)."""
    if not states:
        return
    conn = await driver_connection(session)
    ids = sorted(states)
    columns: list[list[Any]] = [ids]
    columns += [[getattr(states[cid], name) for cid in ids] for name, _ in LIFECYCLE_COLUMNS]
    await conn.execute(_UPDATE_LIFECYCLE, tenant_id, *columns)


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


async def revenue(
    session: AsyncSession, tenant_id: uuid.UUID, customer_id: str
) -> dict[str, tuple[int, int]]:
    """``{currency: (amount, purchases)}`` of one customer."""
    conn = await driver_connection(session)
    records = await conn.fetch(
        "SELECT currency, amount, purchases FROM customer_revenue"
        " WHERE tenant_id = $1 AND customer_id = $2 ORDER BY currency",
        tenant_id,
        customer_id,
    )
    return {r["currency"]: (r["amount"], r["purchases"]) for r in records}


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
SELECT r.purchase_days, r.median_gap, r.last_purchase_at FROM rhythm r
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


async def purchase_facts(
    session: AsyncSession, tenant_id: uuid.UUID, customer_id: str
) -> PurchaseFacts:
    """The customer's purchase days, median interval and last purchase."""
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
        return PurchaseFacts(0, None, None)
    median = row["median_gap"]
    return PurchaseFacts(
        purchase_days=int(row["purchase_days"]),
        median_interval_days=None if median is None else float(median),
        last_purchase_at=row["last_purchase_at"],
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
          AND type IN {LIFECYCLE_TYPES_SQL}
        """,
        tenant_id,
        list(customer_ids),
    )
    out: dict[str, list[FoldEvent]] = {customer_id: [] for customer_id in customer_ids}
    for r in records:
        out[r["customer_id"]].append(fold_event(r))
    return out


# The event columns folding reads (``FoldEvent``'s fields; its ``key`` is the idempotency key),
# and the conversion of such a row.
_FOLD_FIELDS = {f.name: "idempotency_key" if f.name == "key" else f.name for f in fields(FoldEvent)}
FOLD_COLUMNS = ", ".join(_FOLD_FIELDS.values())


def fold_event(row: Mapping[str, Any] | Callable[[str], Any]) -> FoldEvent:
    """A ``FoldEvent`` from an events row (a mapping, or a getter of its columns)."""
    get = row if callable(row) else row.__getitem__
    return FoldEvent(**{name: get(column) for name, column in _FOLD_FIELDS.items()})


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
