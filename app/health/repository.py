"""SQL behind health scoring: everything the model needs for a set of customers, a few
statements per set (never one per customer), and the materialised scores and snapshots."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy.ext.asyncio import AsyncSession

from app.customers.fold import FoldEvent
from app.customers.repository import FOLD_COLUMNS, fold_event
from app.customers.sql import LIFECYCLE_TYPES_SQL
from app.db import driver_connection

# The chunk reads take their rows from :func:`_rows`, in one of two forms with the same
# parameters ($1 tenant, $2 ids, the range bounds, a ``dense`` flag):
#
# * a dense chunk (every customer of the tenant in [lo, hi]: rescoring walks the tenant in id
#   order) reads the index range, exactly the chunk's under any plan. ``= ANY($2)`` alone let a
#   generic plan read every row of the tenant (PostgreSQL 15: 6.6 s instead of 79 ms per chunk),
#   and the ``dense`` flag skips it: a generic plan would compare every row with every id.
# * scattered customers (a training cutoff's sample, a lookup) are read one index descent per
#   id, forced by a LATERAL join over ``unnest($2)`` whose subquery ``OFFSET 0`` keeps from
#   being flattened: with a range or ``= ANY`` over thousands of scattered ids the planner
#   misjudged the rows and read the tenant's whole window (0.5 s instead of 20 ms for 3,000 of
#   100,000 customers), and a flattened join it turned inside out on freshly loaded (not yet
#   analysed) tables, comparing every usage day with every id (12 s).
_CHUNK = "{t}customer_id BETWEEN {lo} AND {hi} AND ({dense} OR {t}customer_id = ANY($2::text[]))"


def _rows(table: str, where: str, lo: str, hi: str, flag: str, dense: bool) -> str:
    """A subquery of ``table``'s rows of the chunk's customers that satisfy ``where``."""
    if dense:
        return (
            f"(SELECT * FROM {table} WHERE tenant_id = $1 AND "
            f"{_CHUNK.format(t='', lo=lo, hi=hi, dense=flag)} AND {where})"
        )
    return (
        f"(SELECT r.* FROM unnest($2::text[]) AS c(customer_id) CROSS JOIN LATERAL "
        f"(SELECT * FROM {table} WHERE tenant_id = $1 AND customer_id = c.customer_id "
        f"AND {where} OFFSET 0) AS r WHERE c.customer_id BETWEEN {lo} AND {hi} AND NOT {flag})"
    )


# A chunk's usage days are tens of thousands of (customer, day, quantity) entries: sent as one
# row of packed big-endian integers (days before today as int2, quantities as int8, grouped by
# customer with a count per customer), which numpy reads as is, instead of as many Python
# objects. Each group's two aggregates see its rows in the same order.
USAGE_MATRIX = {
    dense: f"""
SELECT coalesce(array_agg(customer_id ORDER BY customer_id), '{{}}') AS ids,
       coalesce(array_agg(n ORDER BY customer_id), '{{}}') AS counts,
       coalesce(string_agg(cols, ''::bytea ORDER BY customer_id), ''::bytea) AS cols,
       coalesce(string_agg(quantities, ''::bytea ORDER BY customer_id), ''::bytea) AS quantities
FROM (
    SELECT customer_id::text AS customer_id, count(*)::int4 AS n,
           string_agg(int2send(($3::date - day)::int2), ''::bytea) AS cols,
           string_agg(int8send(quantity), ''::bytea) AS quantities
    FROM {_rows("usage_daily", "day >= $4 AND day < $3", "$5", "$6", "$7", dense)} AS d
    GROUP BY customer_id
) AS per_customer
"""
    for dense in (True, False)
}

USAGE_EVENTS = {
    dense: f"""
SELECT customer_id, feature,
       (sum(coalesce(quantity, 1)) FILTER (WHERE occurred_at >= $4::timestamptz))::float8
           AS today,
       (sum(coalesce(quantity, 1)) FILTER (WHERE occurred_at >= $5::timestamptz))::float8
           AS recent
FROM {
        _rows(
            "events",
            "type = 'usage' AND occurred_at >= least($4::timestamptz, $5::timestamptz)"
            " AND occurred_at < $3",
            "$6",
            "$7",
            "$8",
            dense,
        )
    } AS e
GROUP BY customer_id, feature
"""
    for dense in (True, False)
}

PURCHASES_AND_FAILURES = {
    dense: f"""
WITH p AS (
    SELECT customer_id,
           count(DISTINCT (occurred_at AT TIME ZONE 'UTC')::date) AS days,
           max((occurred_at AT TIME ZONE 'UTC')::date)
               - min((occurred_at AT TIME ZONE 'UTC')::date) AS span,
           max(occurred_at) AS last_at,
           coalesce(sum(amount), 0) AS spend,
           count(DISTINCT (occurred_at AT TIME ZONE 'UTC')::date)
               FILTER (WHERE occurred_at >= $4::timestamptz) AS days_90,
           count(DISTINCT (occurred_at AT TIME ZONE 'UTC')::date)
               FILTER (WHERE occurred_at >= $5::timestamptz) AS days_window
    FROM {_rows("events", "type = 'purchase' AND occurred_at < $3", "$7", "$8", "$9", dense)} AS e
    GROUP BY customer_id
),
f AS (
    SELECT e.customer_id, count(*) AS failures,
           count(*) FILTER (WHERE p.last_at IS NULL OR e.occurred_at > p.last_at) AS unrecovered,
           max(e.occurred_at) FILTER (WHERE p.last_at IS NULL OR e.occurred_at > p.last_at)
               AS latest_unrecovered
    FROM {
        _rows(
            "events",
            "type = 'payment_failed' AND occurred_at >= $6::timestamptz AND occurred_at < $3",
            "$7",
            "$8",
            "$9",
            dense,
        )
    } AS e
    LEFT JOIN p ON p.customer_id = e.customer_id
    GROUP BY e.customer_id
)
SELECT coalesce(p.customer_id, f.customer_id) AS customer_id, p.days, p.span, p.last_at,
       p.spend, p.days_90, p.days_window, f.failures, f.unrecovered, f.latest_unrecovered
FROM p FULL JOIN f ON f.customer_id = p.customer_id
"""
    for dense in (True, False)
}


def _chunk_args(customer_ids: Sequence[str], dense: bool) -> tuple[list[str], str, str]:
    """The ids (left out of a dense chunk: the range says it all, and a chunk's ids are
    thousands of array elements to send) and the range bounds."""
    return ([] if dense else sorted(customer_ids)), min(customer_ids), max(customer_ids)


@dataclass(frozen=True, slots=True)
class UsageDays:
    """Usage of complete days, one entry per customer-day, grouped by customer: ``ids[k]`` has
    the next ``counts[k]`` entries of ``cols`` (days before today) and ``quantities``."""

    ids: list[str]
    counts: npt.NDArray[np.int64]
    cols: npt.NDArray[np.int64]
    quantities: npt.NDArray[np.float64]


async def usage_matrix(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    customer_ids: Sequence[str],
    today: date,
    first: date,
    dense: bool,
) -> UsageDays:
    """Usage of complete days in [first, today)."""
    conn = await driver_connection(session)
    ids, lo, hi = _chunk_args(customer_ids, dense)
    row = await conn.fetchrow(USAGE_MATRIX[dense], tenant_id, ids, today, first, lo, hi, dense)
    return UsageDays(
        ids=row["ids"],
        counts=np.asarray(row["counts"], dtype=np.int64),
        cols=np.frombuffer(row["cols"], dtype=">i2").astype(np.int64),
        quantities=np.frombuffer(row["quantities"], dtype=">i8").astype(np.float64),
    )


async def usage_events(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    customer_ids: Sequence[str],
    until: datetime,
    day_start: datetime,
    features_since: datetime,
    dense: bool,
) -> list[Any]:
    """Per (customer, feature): usage in [day_start, until) and in [features_since, until)."""
    conn = await driver_connection(session)
    ids, lo, hi = _chunk_args(customer_ids, dense)
    return list(
        await conn.fetch(
            USAGE_EVENTS[dense], tenant_id, ids, until, day_start, features_since, lo, hi, dense
        )
    )


async def purchases_and_failures(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    customer_ids: Sequence[str],
    until: datetime,
    since_90: datetime,
    since_window: datetime,
    failures_since: datetime,
    dense: bool,
) -> list[Any]:
    """Per customer: purchase days, first and last purchase, spend, purchase days since
    ``since_90`` and ``since_window``; failed payments since ``failures_since`` and how many of
    them no later purchase recovered. Everything before ``until``."""
    conn = await driver_connection(session)
    ids, lo, hi = _chunk_args(customer_ids, dense)
    return list(
        await conn.fetch(
            PURCHASES_AND_FAILURES[dense],
            tenant_id,
            ids,
            until,
            since_90,
            since_window,
            failures_since,
            lo,
            hi,
            dense,
        )
    )


# The tenant's yardsticks at a day: the 28-day usage of every customer with usage in the 90
# complete days before it, and the median over repeat buyers of their mean purchase interval.
# Over a sample of thousands of customers, reading the tenant's window in index order and
# testing each row's id against the hashed array beats one index descent per sampled id.
USAGE_REFERENCE = """
SELECT coalesce(sum(quantity) FILTER (WHERE day >= $3), 0) AS usage
FROM usage_daily
WHERE tenant_id = $1 AND day >= $2 AND day < $4
  AND ($5::text[] IS NULL OR customer_id = ANY($5::text[]))
GROUP BY customer_id
"""

TENANT_INTERVAL = """
SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY interval) AS median
FROM (
    SELECT extract(epoch FROM max(occurred_at) - min(occurred_at)) / 86400.0
           / (count(DISTINCT (occurred_at AT TIME ZONE 'UTC')::date) - 1) AS interval
    FROM events
    WHERE tenant_id = $1 AND type = 'purchase' AND occurred_at < $2
      AND ($3::text[] IS NULL OR customer_id = ANY($3::text[]))
    GROUP BY customer_id
    HAVING count(DISTINCT (occurred_at AT TIME ZONE 'UTC')::date) > 1
) AS buyers
"""

TOP_FEATURES = """
SELECT feature FROM events
WHERE tenant_id = $1 AND type = 'usage' AND feature IS NOT NULL
  AND occurred_at >= $2 AND occurred_at < $3
GROUP BY feature
ORDER BY sum(coalesce(quantity, 1)) DESC, feature
LIMIT $4
"""


async def usage_reference(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    first: date,
    since: date,
    until: date,
    among: Sequence[str] | None,
) -> list[float]:
    """Usage in [since, until) of every customer (of ``among`` when given) with usage in
    [first, until)."""
    conn = await driver_connection(session)
    records = await conn.fetch(USAGE_REFERENCE, tenant_id, first, since, until, among)
    return [float(r["usage"]) for r in records]


async def tenant_interval(
    session: AsyncSession, tenant_id: uuid.UUID, until: datetime, among: Sequence[str] | None
) -> float | None:
    """The median over repeat buyers (among ``among`` when given) of their mean interval
    between purchase days, from purchases before ``until``."""
    conn = await driver_connection(session)
    median = await conn.fetchval(TENANT_INTERVAL, tenant_id, until, among)
    return None if median is None else float(median)


async def top_features(
    session: AsyncSession, tenant_id: uuid.UUID, since: datetime, until: datetime, limit: int
) -> list[str]:
    conn = await driver_connection(session)
    return [r["feature"] for r in await conn.fetch(TOP_FEATURES, tenant_id, since, until, limit)]


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
        FROM events WHERE tenant_id = $1 AND occurred_at < $2{scope}
        GROUP BY customer_id
        """,
        *args,
    )
    lifecycle = await conn.fetch(
        f"""
        SELECT customer_id, {FOLD_COLUMNS}
        FROM events
        WHERE tenant_id = $1 AND occurred_at < $2{scope}
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
    ids = list(customer_ids)
    if not ids:
        return {}
    # The id range keeps the read to the chunk's part of the index (see _CHUNK).
    records = await conn.fetch(
        "SELECT customer_id, tier, status FROM health_scores"
        " WHERE tenant_id = $1 AND customer_id = ANY($2::text[])"
        " AND customer_id BETWEEN $3 AND $4",
        tenant_id,
        ids,
        min(ids),
        max(ids),
    )
    return {r["customer_id"]: (r["tier"], r["status"]) for r in records}


@dataclass(frozen=True, slots=True)
class ScoreRow:
    customer_id: str
    score: float | None
    tier: str | None
    status: str
    summary: str


# What is the same for every row of a write (the model, the time) is a parameter, not an array:
# arrays cost their elements' encoding.
_UPSERT_SCORES = """
INSERT INTO health_scores (tenant_id, customer_id, score, tier, status, summary, model_version,
                           model_revision, computed_at)
SELECT $1, u.customer_id, u.score, u.tier, u.status, u.summary, $7, $8, $9
FROM unnest($2::text[], $3::float8[], $4::text[], $5::text[], $6::text[])
     AS u(customer_id, score, tier, status, summary)
ORDER BY u.customer_id
ON CONFLICT (tenant_id, customer_id) DO UPDATE SET
    score = EXCLUDED.score, tier = EXCLUDED.tier, status = EXCLUDED.status,
    summary = EXCLUDED.summary, model_version = EXCLUDED.model_version,
    model_revision = EXCLUDED.model_revision, computed_at = EXCLUDED.computed_at
"""

_UPSERT_SNAPSHOTS = """
INSERT INTO health_snapshots (tenant_id, customer_id, day, score, tier, model_version, computed_at)
SELECT $1, u.customer_id, $5, u.score, u.tier, $6, $7
FROM unnest($2::text[], $3::float8[], $4::text[]) AS u(customer_id, score, tier)
ORDER BY u.customer_id
ON CONFLICT (tenant_id, customer_id, day) DO UPDATE SET
    score = EXCLUDED.score, tier = EXCLUDED.tier, model_version = EXCLUDED.model_version,
    computed_at = EXCLUDED.computed_at
"""


async def save_snapshots(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    day: date,
    rows: Sequence[tuple[str, float | None, str | None]],
    *,
    model_version: int,
    computed_at: datetime,
) -> None:
    """Upsert ``(customer_id, score, tier)`` snapshots of one day."""
    if not rows:
        return
    conn = await driver_connection(session)
    await conn.execute(
        _UPSERT_SNAPSHOTS,
        tenant_id,
        [r[0] for r in rows],
        [r[1] for r in rows],
        [r[2] for r in rows],
        day,
        model_version,
        computed_at,
    )


async def save_scores(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    rows: Sequence[ScoreRow],
    *,
    model_version: int,
    model_revision: int,
    computed_at: datetime,
) -> None:
    """Upsert the current scores and the day's (UTC) snapshot of each."""
    if not rows:
        return
    conn = await driver_connection(session)
    ids = [r.customer_id for r in rows]
    scores = [r.score for r in rows]
    tiers = [r.tier for r in rows]
    await conn.execute(
        _UPSERT_SCORES,
        tenant_id,
        ids,
        scores,
        tiers,
        [r.status for r in rows],
        [r.summary for r in rows],
        model_version,
        model_revision,
        computed_at,
    )
    await conn.execute(
        _UPSERT_SNAPSHOTS,
        tenant_id,
        ids,
        scores,
        tiers,
        computed_at.astimezone(UTC).date(),
        model_version,
        computed_at,
    )


# -- training: the tenant's whole history, read once ---------------------------------------------


async def status_history(session: AsyncSession, tenant_id: uuid.UUID, until: datetime) -> Any:
    """Every status change effective before ``until``, by customer then time."""
    conn = await driver_connection(session)
    return await conn.fetch(
        "SELECT customer_id, effective_at, status, mrr FROM customer_status_changes"
        " WHERE tenant_id = $1 AND effective_at < $2 ORDER BY customer_id, effective_at, seq",
        tenant_id,
        until,
    )


async def event_times(
    session: AsyncSession, tenant_id: uuid.UUID, kind: str, until: datetime
) -> Any:
    """Every event of ``kind`` before ``until``: customer, time, effective time, NPS; by
    customer then time."""
    conn = await driver_connection(session)
    return await conn.fetch(
        "SELECT customer_id, occurred_at, effective_at, nps FROM events"
        " WHERE tenant_id = $1 AND type = $2 AND occurred_at < $3"
        " ORDER BY customer_id, occurred_at",
        tenant_id,
        kind,
        until,
    )
