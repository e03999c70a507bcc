"""SQL behind health scoring: everything the model needs for a set of customers, a few
statements per set (never one per customer), and the materialised scores and snapshots."""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.customers import repository as customers
from app.customers.fold import FoldEvent
from app.customers.repository import FOLD_COLUMNS, fold_event
from app.customers.sql import LIFECYCLE_TYPES_SQL
from app.db import driver_connection


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
    return await customers.customer_rows(session, tenant_id, customer_ids, lock=lock)


async def usage_by_day(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    customer_ids: Sequence[str],
    first: date,
    last: date,
) -> dict[str, dict[date, int]]:
    conn = await driver_connection(session)
    records = await conn.fetch(
        "SELECT customer_id, day, quantity FROM usage_daily"
        " WHERE tenant_id = $1 AND customer_id = ANY($2::text[]) AND day BETWEEN $3 AND $4",
        tenant_id,
        list(customer_ids),
        first,
        last,
    )
    out: dict[str, dict[date, int]] = defaultdict(dict)
    for r in records:
        out[r["customer_id"]][r["day"]] = r["quantity"]
    return out


async def purchase_days(
    session: AsyncSession, tenant_id: uuid.UUID, customer_ids: Sequence[str], until: datetime
) -> dict[str, list[date]]:
    """Distinct UTC days with a purchase up to ``until``, ascending, per customer."""
    conn = await driver_connection(session)
    records = await conn.fetch(
        """
        SELECT customer_id, array_agg(DISTINCT (occurred_at AT TIME ZONE 'UTC')::date) AS days
        FROM events
        WHERE tenant_id = $1 AND customer_id = ANY($2::text[]) AND type = 'purchase'
          AND occurred_at <= $3
        GROUP BY customer_id
        """,
        tenant_id,
        list(customer_ids),
        until,
    )
    return {r["customer_id"]: sorted(r["days"]) for r in records}


async def payment_failures(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    customer_ids: Sequence[str],
    since: datetime,
    until: datetime,
) -> dict[str, list[datetime]]:
    conn = await driver_connection(session)
    records = await conn.fetch(
        """
        SELECT customer_id, array_agg(occurred_at ORDER BY occurred_at) AS times
        FROM events
        WHERE tenant_id = $1 AND customer_id = ANY($2::text[]) AND type = 'payment_failed'
          AND occurred_at > $3 AND occurred_at <= $4
        GROUP BY customer_id
        """,
        tenant_id,
        list(customer_ids),
        since,
        until,
    )
    return {r["customer_id"]: list(r["times"]) for r in records}


@dataclass(frozen=True, slots=True)
class HistoryAt:
    """A customer as its events up to an instant describe it (for ``as_of`` and backtests)."""

    first_seen_at: datetime
    last_usage_at: datetime | None
    last_purchase_at: datetime | None
    lifecycle: list[FoldEvent]


async def history_until(
    session: AsyncSession, tenant_id: uuid.UUID, customer_ids: Sequence[str] | None, until: datetime
) -> dict[str, HistoryAt]:
    """Per customer seen by ``until``: first seen, last usage and purchase, and its lifecycle
    events up to ``until`` (two statements for any number of customers)."""
    conn = await driver_connection(session)
    scope = "" if customer_ids is None else " AND customer_id = ANY($3::text[])"
    args: list[Any] = [tenant_id, until] + ([] if customer_ids is None else [list(customer_ids)])
    summary = await conn.fetch(
        f"""
        SELECT customer_id, min(occurred_at) AS first_seen_at,
               max(occurred_at) FILTER (WHERE type = 'usage') AS last_usage_at,
               max(occurred_at) FILTER (WHERE type = 'purchase') AS last_purchase_at
        FROM events WHERE tenant_id = $1 AND occurred_at <= $2{scope}
        GROUP BY customer_id
        """,
        *args,
    )
    lifecycle = await conn.fetch(
        f"""
        SELECT customer_id, {FOLD_COLUMNS}
        FROM events
        WHERE tenant_id = $1 AND occurred_at <= $2{scope}
          AND type IN {LIFECYCLE_TYPES_SQL}
        """,
        *args,
    )
    events: dict[str, list[FoldEvent]] = defaultdict(list)
    for r in lifecycle:
        events[r["customer_id"]].append(fold_event(r))
    return {
        r["customer_id"]: HistoryAt(
            first_seen_at=r["first_seen_at"],
            last_usage_at=r["last_usage_at"],
            last_purchase_at=r["last_purchase_at"],
            lifecycle=events.get(r["customer_id"], []),
        )
        for r in summary
    }


async def stored_scores(
    session: AsyncSession, tenant_id: uuid.UUID, customer_ids: Sequence[str]
) -> dict[str, tuple[str | None, str]]:
    """``{customer_id: (tier, status)}`` of the materialised scores."""
    conn = await driver_connection(session)
    records = await conn.fetch(
        "SELECT customer_id, tier, status FROM health_scores"
        " WHERE tenant_id = $1 AND customer_id = ANY($2::text[])",
        tenant_id,
        list(customer_ids),
    )
    return {r["customer_id"]: (r["tier"], r["status"]) for r in records}


@dataclass(frozen=True, slots=True)
class ScoreRow:
    customer_id: str
    score: float | None
    tier: str | None
    status: str
    summary: str
    factors: list[dict[str, Any]]
    missing: list[dict[str, Any]]
    model_version: int
    model_revision: int
    computed_at: datetime


_UPSERT_SCORES = """
INSERT INTO health_scores (tenant_id, customer_id, score, tier, status, summary, factors, missing,
                           model_version, model_revision, computed_at)
SELECT $1, u.customer_id, u.score, u.tier, u.status, u.summary, u.factors, u.missing,
       u.model_version, u.model_revision, u.computed_at
FROM unnest($2::text[], $3::float8[], $4::text[], $5::text[], $6::text[], $7::jsonb[],
            $8::jsonb[], $9::int[], $10::int[], $11::timestamptz[])
     AS u(customer_id, score, tier, status, summary, factors, missing, model_version,
          model_revision, computed_at)
ORDER BY u.customer_id
ON CONFLICT (tenant_id, customer_id) DO UPDATE SET
    score = EXCLUDED.score, tier = EXCLUDED.tier, status = EXCLUDED.status,
    summary = EXCLUDED.summary, factors = EXCLUDED.factors, missing = EXCLUDED.missing,
    model_version = EXCLUDED.model_version, model_revision = EXCLUDED.model_revision,
    computed_at = EXCLUDED.computed_at
"""

_UPSERT_SNAPSHOTS = """
INSERT INTO health_snapshots (tenant_id, customer_id, day, score, tier, model_version, computed_at)
SELECT $1, u.customer_id, u.day, u.score, u.tier, u.model_version, u.computed_at
FROM unnest($2::text[], $3::date[], $4::float8[], $5::text[], $6::int[], $7::timestamptz[])
     AS u(customer_id, day, score, tier, model_version, computed_at)
ORDER BY u.customer_id
ON CONFLICT (tenant_id, customer_id, day) DO UPDATE SET
    score = EXCLUDED.score, tier = EXCLUDED.tier, model_version = EXCLUDED.model_version,
    computed_at = EXCLUDED.computed_at
"""


async def save_snapshots(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    day: date,
    rows: Sequence[tuple[str, float | None, str | None, int]],
    computed_at: datetime,
) -> None:
    """Upsert ``(customer_id, score, tier, model_version)`` snapshots of one day."""
    if not rows:
        return
    conn = await driver_connection(session)
    await conn.execute(
        _UPSERT_SNAPSHOTS,
        tenant_id,
        [r[0] for r in rows],
        [day] * len(rows),
        [r[1] for r in rows],
        [r[2] for r in rows],
        [r[3] for r in rows],
        [computed_at] * len(rows),
    )


async def save_scores(
    session: AsyncSession, tenant_id: uuid.UUID, rows: Sequence[ScoreRow]
) -> None:
    """Upsert the current scores and the day's snapshot of each."""
    if not rows:
        return
    conn = await driver_connection(session)
    ids = [r.customer_id for r in rows]
    await conn.execute(
        _UPSERT_SCORES,
        tenant_id,
        ids,
        [r.score for r in rows],
        [r.tier for r in rows],
        [r.status for r in rows],
        [r.summary for r in rows],
        [json.dumps(r.factors) for r in rows],
        [json.dumps(r.missing) for r in rows],
        [r.model_version for r in rows],
        [r.model_revision for r in rows],
        [r.computed_at for r in rows],
    )
    await conn.execute(
        _UPSERT_SNAPSHOTS,
        tenant_id,
        ids,
        [r.computed_at.date() for r in rows],
        [r.score for r in rows],
        [r.tier for r in rows],
        [r.model_version for r in rows],
        [r.computed_at for r in rows],
    )
