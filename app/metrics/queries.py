"""The metric definitions of :mod:`app.metrics.churn`, set-based in SQL: one statement per call.

How the churn series stays linear in the number of changes (no customer x period product):
every per-period figure is a sum over customers of ``h(state at start, state at end)``. A
customer with no change inside the period has the same state at both ends, so

    figure(p) = sum over all customers of h(s0, s0)
              + sum over customers changed in p of [h(s0, s1) - h(s0, s0)].

The first term is a function of the state at the period start only, which a running sum of
per-change deltas (state after minus state before, bucketed by period) gives for every boundary
at once. The second term needs, for each (customer, period) with changes, the state before its
first change in the period and after its last one: window functions over the customer's ordered
changes. Cohort cells use the same running sums, per cohort.

Periods come from ``generate_series`` over UTC wall-clock timestamps and changes are bucketed
with ``date_trunc`` on the same unit, so buckets and period starts coincide exactly.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.customers.sql import tenant_customers
from app.metrics.churn import (
    CancellationReport,
    ChurnSeries,
    CohortCell,
    CohortMatrix,
    CohortRow,
    CurrentState,
    Granularity,
    PeriodCounts,
    ReasonCount,
    grid_end,
)

_UNITS: Mapping[Granularity, tuple[str, int, int]] = {
    # date_trunc unit, months, days of one step
    "day": ("day", 0, 1),
    "week": ("week", 0, 7),
    "month": ("month", 1, 0),
    "quarter": ("quarter", 3, 0),
}

# Each customer's currency (its latest non-null one; customers without any are absent here and
# count as the selected currency), the selected currency, the other currencies present, and the
# customers left out because their currency is another one. The default currency is the one most
# customers with an MRR-bearing change have.
SELECTION = """
customer_currency AS (
    SELECT DISTINCT ON (customer_id) customer_id, currency
    FROM customer_status_changes
    WHERE tenant_id = :tenant_id AND effective_at <= :as_of AND currency IS NOT NULL
    ORDER BY customer_id DESC, effective_at DESC, seq DESC
),
selected AS (
    SELECT coalesce(
        CAST(:currency AS text),
        (SELECT c.currency
         FROM customer_currency c
         WHERE EXISTS (
             SELECT 1 FROM customer_status_changes x
             WHERE x.tenant_id = :tenant_id AND x.customer_id = c.customer_id
               AND x.effective_at <= :as_of AND x.status = 'active' AND x.mrr > 0
         )
         GROUP BY c.currency
         ORDER BY count(*) DESC, c.currency COLLATE "C"
         LIMIT 1),
        'USD'
    ) AS currency
),
others AS (
    SELECT array_agg(DISTINCT c.currency) AS currencies
    FROM customer_currency c CROSS JOIN selected s
    WHERE c.currency <> s.currency
),
excluded AS (
    SELECT c.customer_id
    FROM customer_currency c CROSS JOIN selected s
    WHERE c.currency <> s.currency
)"""

# Calendar periods overlapping [start, end), as UTC wall-clock timestamps.
GRID = """
grid AS (
    SELECT g AS period_start, g + make_interval(months => :months, days => :days) AS period_end
    FROM generate_series(
        date_trunc(:unit, CAST(:start AS timestamptz) AT TIME ZONE 'UTC'),
        CAST(:end AS timestamptz) AT TIME ZONE 'UTC',
        make_interval(months => :months, days => :days)
    ) AS g
    WHERE g < CAST(:end AS timestamptz) AT TIME ZONE 'UTC' {extra}
),
bounds AS (
    SELECT min(period_start) AS lo FROM grid
)"""

# The tenant's known changes up to the end of the grid, MRR zeroed unless active, each with the
# period it falls in. Ordering the window by (bucket, effective_at, seq) is the same order as
# (effective_at, seq), and lets the primary key's (customer_id, effective_at, seq) order feed an
# incremental sort and a streaming group-by per (customer, bucket).
_CHANGES = """
    SELECT k.customer_id, k.effective_at, k.seq, k.kind, k.status, k.previous_status, k.plan,
           CASE WHEN k.status = 'active' THEN k.mrr ELSE 0 END AS mrr,
           date_trunc(:unit, k.effective_at AT TIME ZONE 'UTC') AS bucket
    FROM customer_status_changes k
    WHERE k.tenant_id = :tenant_id AND k.effective_at <= :as_of AND k.effective_at < :scan_end
"""

_CHURN_SQL = f"""
WITH {SELECTION},
{GRID.format(extra="")},
steps AS (
    SELECT customer_id, bucket,
           bucket IS DISTINCT FROM lag(bucket) OVER w AS opens,
           bucket IS DISTINCT FROM lead(bucket) OVER w AS closes,
           kind = 'new' AND count(*) FILTER (WHERE kind = 'new') OVER w = 1 AS first_new,
           status = 'active' AND previous_status = 'cancelled' AS reactivation,
           -- the state after this change (1) and before it (0)
           (status IN ('active', 'paused'))::int AS a1,
           (status = 'paused')::int AS z1,
           mrr AS m1,
           coalesce(lag(status) OVER w IN ('active', 'paused'), false)::int AS a0,
           coalesce(lag(status) OVER w = 'paused', false)::int AS z0,
           coalesce(lag(mrr) OVER w, 0) AS m0,
           -- in the population by the plan filter (a customer with no state yet is in it only
           -- when there is no filter: the filter is on the plan at period start)
           (CAST(:plan AS text) IS NULL OR plan IS NOT DISTINCT FROM CAST(:plan AS text))::int
               AS p1,
           (CAST(:plan AS text) IS NULL
            OR (lag(status) OVER w IS NOT NULL
                AND lag(plan) OVER w IS NOT DISTINCT FROM CAST(:plan AS text)))::int AS p0
    FROM ({_CHANGES}) AS changes
    WINDOW w AS (PARTITION BY customer_id ORDER BY bucket, effective_at, seq)
),
-- one row per (customer, period with changes): the summed deltas, and the state before the
-- period's first change (0) and after its last (1)
pairs AS (
    SELECT customer_id, bucket,
           sum(p1 * a1 - p0 * a0) AS d_active,
           sum(p1 * z1 - p0 * z0) AS d_paused,
           sum(p1 * m1 - p0 * m0) AS d_mrr,
           max(p0) FILTER (WHERE opens) AS p0,
           max(a0) FILTER (WHERE opens) AS a0,
           max(z0) FILTER (WHERE opens) AS z0,
           max(m0) FILTER (WHERE opens) AS m0,
           max(a1) FILTER (WHERE closes) AS a1,
           max(z1) FILTER (WHERE closes) AS z1,
           max(m1) FILTER (WHERE closes) AS m1,
           bool_or(first_new)::int AS nw,
           bool_or(reactivation)::int AS re
    FROM steps
    GROUP BY customer_id, bucket
),
-- per period; changes before the grid fold into one NULL bucket (the state at its start)
per_bucket AS (
    SELECT CASE WHEN pr.bucket < b.lo THEN NULL ELSE pr.bucket END AS bucket,
           sum(d_active) AS d_active,
           sum(d_paused) AS d_paused,
           sum(d_mrr) AS d_mrr,
           sum(p0 * (a1 - a0)) AS d_active_end,
           sum(p0 * (z1 - z0)) AS d_paused_end,
           sum(p0 * (m1 - m0)) AS d_mrr_end,
           sum(p0 * a0 * (m1 - m0)) AS d_retained,
           sum(p0 * a0 * (1 - a1)) AS churned,
           sum(p0 * a0 * (1 - a1) * m0) AS mrr_churned,
           sum(p0 * a0 * a1 * greatest(m0 - m1, 0)) AS mrr_contraction,
           sum(p0 * a0 * a1 * greatest(m1 - m0, 0)) AS mrr_expansion,
           sum(p0 * nw) AS new,
           sum(p0 * nw * m1) AS mrr_new,
           sum(p0 * re) AS reactivated
    FROM pairs pr CROSS JOIN bounds b
    WHERE NOT EXISTS (SELECT 1 FROM excluded e WHERE e.customer_id = pr.customer_id)
    GROUP BY 1
),
base AS (
    SELECT coalesce(sum(d_active), 0) AS active, coalesce(sum(d_paused), 0) AS paused,
           coalesce(sum(d_mrr), 0) AS mrr
    FROM per_bucket WHERE bucket IS NULL
),
at_start AS (
    SELECT g.period_start, g.period_end,
           base.active + coalesce(sum(d.d_active) OVER before, 0) AS active,
           base.paused + coalesce(sum(d.d_paused) OVER before, 0) AS paused,
           base.mrr + coalesce(sum(d.d_mrr) OVER before, 0) AS mrr,
           d.d_active_end, d.d_paused_end, d.d_mrr_end, d.d_retained, d.churned, d.mrr_churned,
           d.mrr_contraction, d.mrr_expansion, d.new, d.mrr_new, d.reactivated
    FROM grid g
    CROSS JOIN base
    LEFT JOIN per_bucket d ON d.bucket = g.period_start
    WINDOW before AS (ORDER BY g.period_start ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
)
SELECT sel.currency, o.currencies,
       st.period_start AT TIME ZONE 'UTC' AS period_start,
       st.period_end AT TIME ZONE 'UTC' AS period_end,
       st.active AS customers_at_start,
       st.active + coalesce(st.d_active_end, 0) AS customers_at_end,
       coalesce(st.churned, 0) AS churned,
       coalesce(st.new, 0) AS new,
       coalesce(st.reactivated, 0) AS reactivated,
       st.paused + coalesce(st.d_paused_end, 0) AS paused,
       st.mrr AS mrr_at_start,
       st.mrr + coalesce(st.d_mrr_end, 0) AS mrr_at_end,
       coalesce(st.mrr_new, 0) AS mrr_new,
       coalesce(st.mrr_churned, 0) AS mrr_churned,
       coalesce(st.mrr_contraction, 0) AS mrr_contraction,
       coalesce(st.mrr_expansion, 0) AS mrr_expansion,
       st.mrr + coalesce(st.d_retained, 0) AS mrr_retained
FROM at_start st
CROSS JOIN selected sel
CROSS JOIN others o
ORDER BY st.period_start
"""

_COHORT_SQL = f"""
WITH {SELECTION},
{GRID.format(extra="AND g <= CAST(:as_of AS timestamptz) AT TIME ZONE 'UTC'")},
steps AS (
    SELECT customer_id, bucket, mrr,
           kind = 'new' AND count(*) FILTER (WHERE kind = 'new') OVER w = 1 AS first_new,
           (status IN ('active', 'paused'))::int
               - coalesce(lag(status) OVER w IN ('active', 'paused'), false)::int AS d_active,
           mrr - coalesce(lag(mrr) OVER w, 0) AS d_mrr
    FROM ({_CHANGES}) AS changes
    WINDOW w AS (PARTITION BY customer_id ORDER BY bucket, effective_at, seq)
),
pairs AS (
    SELECT customer_id, bucket,
           sum(d_active) AS d_active,
           sum(d_mrr) AS d_mrr,
           bool_or(first_new) AS joins,
           max(mrr) FILTER (WHERE first_new) AS starting_mrr
    FROM steps
    GROUP BY customer_id, bucket
),
tagged AS (
    SELECT pr.*, max(bucket) FILTER (WHERE joins) OVER (PARTITION BY customer_id) AS cohort
    FROM pairs pr
),
-- per cohort and period: how many joined, their starting MRR, and the deltas of their state (a
-- change before the cohort's own period, unusual, counts from the first cell on)
member_deltas AS (
    SELECT t.cohort, greatest(t.bucket, t.cohort) AS bucket,
           count(*) FILTER (WHERE t.joins) AS joined,
           coalesce(sum(t.starting_mrr) FILTER (WHERE t.joins), 0) AS starting_mrr,
           sum(t.d_active) AS d_active,
           sum(t.d_mrr) AS d_mrr
    FROM tagged t CROSS JOIN bounds b
    WHERE t.cohort >= b.lo
      AND NOT EXISTS (SELECT 1 FROM excluded e WHERE e.customer_id = t.customer_id)
    GROUP BY 1, 2
),
sizes AS (
    SELECT cohort, sum(joined) AS customers, sum(starting_mrr) AS starting_mrr
    FROM member_deltas
    GROUP BY cohort
),
cells AS (
    SELECT c.period_start AS cohort, c.period_end AS cohort_end,
           p.period_start, p.period_end,
           row_number() OVER cohort_w - 1 AS k,
           coalesce(sum(d.d_active) OVER cohort_w, 0) AS active,
           coalesce(sum(d.d_mrr) OVER cohort_w, 0) AS mrr
    FROM grid c
    JOIN grid p ON p.period_start >= c.period_start
    LEFT JOIN member_deltas d ON d.cohort = c.period_start AND d.bucket = p.period_start
    WINDOW cohort_w AS (
        PARTITION BY c.period_start ORDER BY p.period_start ROWS UNBOUNDED PRECEDING
    )
)
SELECT sel.currency, o.currencies,
       x.cohort AT TIME ZONE 'UTC' AS cohort_start,
       x.cohort_end AT TIME ZONE 'UTC' AS cohort_end,
       coalesce(z.customers, 0) AS customers,
       coalesce(z.starting_mrr, 0) AS starting_mrr,
       x.k,
       x.period_start AT TIME ZONE 'UTC' AS period_start,
       x.period_end AT TIME ZONE 'UTC' AS period_end,
       x.active,
       x.mrr
FROM selected sel
CROSS JOIN others o
LEFT JOIN (cells x LEFT JOIN sizes z ON z.cohort = x.cohort) ON true
ORDER BY x.cohort, x.k
"""

_CANCELLATIONS_SQL = f"""
WITH {SELECTION},
reasons AS (
    SELECT k.reason, count(*) AS cancellations, sum(k.previous_mrr) AS mrr_lost
    FROM customer_status_changes k
    WHERE k.tenant_id = :tenant_id AND k.kind = 'churned' AND k.effective_at <= :as_of
      AND k.effective_at >= :start AND k.effective_at < :end
      AND NOT EXISTS (SELECT 1 FROM excluded e WHERE e.customer_id = k.customer_id)
    GROUP BY k.reason
)
SELECT sel.currency, o.currencies, r.reason, r.cancellations, r.mrr_lost
FROM selected sel
CROSS JOIN others o
LEFT JOIN reasons r ON true
ORDER BY r.cancellations DESC, r.reason COLLATE "C" NULLS LAST
"""

_CURRENT_SQL = f"""
WITH {SELECTION},
latest AS (
    SELECT DISTINCT ON (k.customer_id) k.customer_id, k.status,
           CASE WHEN k.status = 'active' THEN k.mrr ELSE 0 END AS mrr
    FROM customer_status_changes k
    WHERE k.tenant_id = :tenant_id AND k.effective_at <= :as_of
    ORDER BY k.customer_id DESC, k.effective_at DESC, k.seq DESC
),
counted AS (
    SELECT l.status, l.mrr
    FROM latest l
    WHERE NOT EXISTS (SELECT 1 FROM excluded e WHERE e.customer_id = l.customer_id)
),
leads AS (
    SELECT count(*) AS n
    FROM {tenant_customers(":tenant_id")} c
    WHERE c.tenant_id = :tenant_id AND c.first_seen_at <= :as_of
      AND NOT EXISTS (
          SELECT 1 FROM customer_status_changes k
          WHERE k.tenant_id = :tenant_id AND k.customer_id = c.customer_id
            AND k.effective_at <= :as_of
      )
)
SELECT sel.currency, o.currencies, (SELECT n FROM leads) AS leads,
       count(l.status) FILTER (WHERE l.status = 'active') AS active,
       count(l.status) FILTER (WHERE l.status = 'paused') AS paused,
       count(l.status) FILTER (WHERE l.status = 'cancelled') AS cancelled,
       coalesce(sum(l.mrr), 0) AS mrr
FROM selected sel
CROSS JOIN others o
LEFT JOIN counted l ON true
GROUP BY sel.currency, o.currencies
"""


def _others(currencies: Sequence[str] | None) -> list[str]:
    return sorted(currencies or [])


def _params(
    tenant_id: uuid.UUID, as_of: datetime, currency: str | None, **extra: Any
) -> dict[str, Any]:
    return {"tenant_id": tenant_id, "as_of": as_of, "currency": currency, **extra}


def grid_params(start: datetime, end: datetime, granularity: Granularity) -> dict[str, Any]:
    unit, months, days = _UNITS[granularity]
    return {
        "start": start,
        "end": end,
        "unit": unit,
        "months": months,
        "days": days,
        # Changes from the end of the last period on cannot matter. Passing the bound as a value
        # (not read from the grid) lets the planner estimate the scan.
        "scan_end": grid_end(end, granularity),
    }


# The statement's output columns are named after PeriodCounts' fields.
_COUNT_FIELDS = tuple(f.name for f in fields(PeriodCounts) if f.name not in ("start", "end"))


async def churn_series(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    *,
    start: datetime,
    end: datetime,
    granularity: Granularity,
    as_of: datetime,
    plan: str | None = None,
    currency: str | None = None,
) -> ChurnSeries:
    """``churn.churn_series`` in one statement."""
    params = _params(tenant_id, as_of, currency, plan=plan, **grid_params(start, end, granularity))
    rows = (await session.execute(text(_CHURN_SQL), params)).mappings().all()
    return ChurnSeries(
        currency=rows[0]["currency"],
        other_currencies=_others(rows[0]["currencies"]),
        periods=[
            PeriodCounts(
                start=row["period_start"],
                end=row["period_end"],
                **{name: int(row[name]) for name in _COUNT_FIELDS},
            )
            for row in rows
        ],
    )


async def cohort_matrix(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    *,
    start: datetime,
    end: datetime,
    granularity: Granularity,
    as_of: datetime,
    currency: str | None = None,
) -> CohortMatrix:
    """``churn.cohort_matrix`` in one statement (one row per cell)."""
    params = _params(tenant_id, as_of, currency, **grid_params(start, end, granularity))
    rows = (await session.execute(text(_COHORT_SQL), params)).mappings().all()
    cohorts: list[CohortRow] = []
    for row in rows:
        if row["cohort_start"] is None:
            continue  # no period of the range has begun yet
        if not cohorts or cohorts[-1].start != row["cohort_start"]:
            cohorts.append(
                CohortRow(
                    start=row["cohort_start"],
                    end=row["cohort_end"],
                    customers=int(row["customers"]),
                    starting_mrr=int(row["starting_mrr"]),
                )
            )
        cohorts[-1].cells.append(
            CohortCell(
                index=int(row["k"]),
                start=row["period_start"],
                end=row["period_end"],
                active=int(row["active"]),
                mrr=int(row["mrr"]),
            )
        )
    return CohortMatrix(rows[0]["currency"], _others(rows[0]["currencies"]), cohorts)


async def cancellation_report(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    *,
    start: datetime,
    end: datetime,
    as_of: datetime,
    currency: str | None = None,
) -> CancellationReport:
    """``churn.cancellation_report`` in one statement."""
    params = _params(tenant_id, as_of, currency, start=start, end=end)
    rows = (await session.execute(text(_CANCELLATIONS_SQL), params)).mappings().all()
    return CancellationReport(
        currency=rows[0]["currency"],
        other_currencies=_others(rows[0]["currencies"]),
        by_reason=[
            ReasonCount(row["reason"], int(row["cancellations"]), int(row["mrr_lost"]))
            for row in rows
            if row["cancellations"] is not None
        ],
    )


@dataclass(frozen=True)
class CurrentCounts:
    state: CurrentState
    leads: int


async def current_state(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    *,
    as_of: datetime,
    currency: str | None = None,
) -> CurrentCounts:
    """``churn.current_state`` plus the leads (customers without any known change)."""
    row = (
        (await session.execute(text(_CURRENT_SQL), _params(tenant_id, as_of, currency)))
        .mappings()
        .one()
    )
    state = CurrentState(
        currency=row["currency"],
        other_currencies=_others(row["currencies"]),
        active=int(row["active"]),
        paused=int(row["paused"]),
        cancelled=int(row["cancelled"]),
        mrr=int(row["mrr"]),
    )
    return CurrentCounts(state=state, leads=int(row["leads"]))
