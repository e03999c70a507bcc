"""The definitions of :mod:`app.metrics.value`, set-based in SQL.

Lifetime value reuses the monthly churn series (:func:`app.metrics.queries.churn_series`), so
its population, plan filter and currency rule are the churn metrics' own. Cohort revenue and
repeat purchases read ``purchase`` events through the partial index ``ix_events_purchases``;
each is one statement. Cohort revenue reuses the churn queries' currency selection and period
grid (``SELECTION``, ``GRID``), so both families of metrics agree exactly.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.metrics import queries
from app.metrics.churn import grid_end, truncate
from app.metrics.queries import GRID, SELECTION
from app.metrics.value import (
    FREQUENCY_BUCKETS,
    HORIZONS,
    CohortRevenue,
    CohortRevenueTable,
    HorizonRevenue,
    Ltv,
    RepeatPurchases,
    complete_months,
)

# Customers' first activations (known at as_of), their monthly cohort, and what they paid in
# the selected currency from their activation on, up to the longest horizon; each purchase then
# counts for every horizon it falls within.
_COHORT_REVENUE_SQL = f"""
WITH {SELECTION},
{GRID.format(extra="AND g <= CAST(:as_of AS timestamptz) AT TIME ZONE 'UTC'")},
horizons AS (
    SELECT unnest(CAST(:horizons AS int[])) AS n
),
firsts AS (
    SELECT DISTINCT ON (k.customer_id) k.customer_id, k.effective_at AS activated_at, k.plan
    FROM customer_status_changes k
    WHERE k.tenant_id = :tenant_id AND k.kind = 'new' AND k.effective_at <= :as_of
    ORDER BY k.customer_id, k.effective_at, k.seq
),
members AS (
    SELECT f.customer_id, f.activated_at,
           date_trunc('month', f.activated_at AT TIME ZONE 'UTC') AS cohort
    FROM firsts f
    WHERE (CAST(:plan AS text) IS NULL OR f.plan = CAST(:plan AS text))
      AND f.activated_at >= :start_aligned AND f.activated_at < :scan_end
      AND NOT EXISTS (SELECT 1 FROM excluded e WHERE e.customer_id = f.customer_id)
),
paid AS (
    SELECT m.cohort, m.activated_at, e.occurred_at, e.amount
    FROM members m
    JOIN events e
      ON e.tenant_id = :tenant_id AND e.customer_id = m.customer_id AND e.type = 'purchase'
     AND e.currency = (SELECT currency FROM selected)
     AND e.occurred_at >= m.activated_at
     AND e.occurred_at < (m.activated_at AT TIME ZONE 'UTC'
                          + make_interval(months => :longest)) AT TIME ZONE 'UTC'
),
revenue AS (
    SELECT p.cohort, h.n, sum(p.amount) AS revenue
    FROM paid p
    JOIN horizons h
      ON p.occurred_at < (p.activated_at AT TIME ZONE 'UTC'
                          + make_interval(months => h.n)) AT TIME ZONE 'UTC'
    GROUP BY p.cohort, h.n
),
sizes AS (
    SELECT cohort, count(*) AS customers FROM members GROUP BY cohort
)
SELECT sel.currency, o.currencies,
       x.period_start AT TIME ZONE 'UTC' AS cohort_start,
       x.period_end AT TIME ZONE 'UTC' AS cohort_end,
       coalesce(x.customers, 0) AS customers,
       x.n,
       CASE WHEN (x.period_end + make_interval(months => x.n)) AT TIME ZONE 'UTC' <= :as_of
            THEN coalesce(x.revenue, 0) END AS revenue
FROM selected sel
CROSS JOIN others o
LEFT JOIN (
    SELECT g.period_start, g.period_end, h.n, z.customers, r.revenue
    FROM grid g
    CROSS JOIN horizons h
    LEFT JOIN sizes z ON z.cohort = g.period_start
    LEFT JOIN revenue r ON r.cohort = g.period_start AND r.n = h.n
) x ON true
ORDER BY x.period_start, x.n
"""

# One pass over the window's purchases: grouped by (customer, currency, UTC day), each day with
# the gap since the customer's previous purchase day in that currency (the grouping's sort order
# feeds the window); then per (customer, currency); the selected currency (the one most
# customers bought in) from those; the buyers and gaps in it.
_REPEAT_SQL = """
WITH days_all AS (
    SELECT customer_id, currency, day, purchases, revenue,
           day - lag(day) OVER (PARTITION BY customer_id, currency ORDER BY day) AS gap
    FROM (
        SELECT customer_id, currency, (occurred_at AT TIME ZONE 'UTC')::date AS day,
               count(*) AS purchases, sum(amount) AS revenue
        FROM events
        WHERE tenant_id = :tenant_id AND type = 'purchase'
          AND occurred_at >= :start AND occurred_at < :end AND occurred_at <= :as_of
        GROUP BY customer_id, currency, day
    ) AS grouped
),
buyers_all AS (
    SELECT customer_id, currency, count(*) AS n, sum(purchases) AS purchases,
           sum(revenue) AS revenue
    FROM days_all
    GROUP BY customer_id, currency
),
selected AS (
    SELECT coalesce(
        CAST(:currency AS text),
        (SELECT currency FROM buyers_all
         GROUP BY currency
         ORDER BY count(*) DESC, currency COLLATE "C"
         LIMIT 1),
        'USD'
    ) AS currency
),
buyers AS (
    SELECT b.* FROM buyers_all b WHERE b.currency = (SELECT currency FROM selected)
),
frequency AS (
    SELECT least(n, :top) AS bucket, count(*) AS customers FROM buyers GROUP BY 1
)
SELECT (SELECT currency FROM selected) AS currency,
       (SELECT array_agg(DISTINCT b.currency) FROM buyers_all b
        WHERE b.currency <> (SELECT currency FROM selected)) AS currencies,
       (SELECT coalesce(sum(purchases), 0) FROM buyers) AS purchases,
       (SELECT coalesce(sum(revenue), 0) FROM buyers) AS revenue,
       (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY gap) FROM days_all
        WHERE gap IS NOT NULL AND currency = (SELECT currency FROM selected)) AS median_gap,
       (SELECT array_agg(bucket ORDER BY bucket) FROM frequency) AS buckets,
       (SELECT array_agg(customers ORDER BY bucket) FROM frequency) AS customers
"""


async def ltv(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    *,
    start: datetime,
    end: datetime,
    as_of: datetime,
    plan: str | None = None,
    currency: str | None = None,
) -> Ltv:
    """``value.ltv``: the monthly churn series over the complete months, in one statement."""
    months = complete_months(start, end, as_of)
    if not months:
        current = await queries.current_state(session, tenant_id, as_of=as_of, currency=currency)
        return Ltv(current.state.currency, current.state.other_currencies, [])
    series = await queries.churn_series(
        session,
        tenant_id,
        start=months[0].start,
        end=months[-1].end,
        granularity="month",
        as_of=as_of,
        plan=plan,
        currency=currency,
    )
    return Ltv(series.currency, series.other_currencies, series.periods)


async def cohort_revenue(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    *,
    start: datetime,
    end: datetime,
    as_of: datetime,
    plan: str | None = None,
    currency: str | None = None,
    horizons: Sequence[int] = HORIZONS,
) -> CohortRevenueTable:
    """``value.cohort_revenue`` in one statement (one row per cohort and horizon)."""
    grid = queries.grid_params(start, end, "month")
    params = {
        "tenant_id": tenant_id,
        "as_of": as_of,
        "currency": currency,
        "plan": plan,
        "horizons": list(horizons),
        "longest": max(horizons),
        "start_aligned": truncate(start, "month"),
        **grid,
        "scan_end": grid_end(end, "month"),
    }
    rows = (await session.execute(text(_COHORT_REVENUE_SQL), params)).mappings().all()
    cohorts: list[CohortRevenue] = []
    for row in rows:
        if row["cohort_start"] is None:
            continue  # no month of the range has begun yet
        if not cohorts or cohorts[-1].start != row["cohort_start"]:
            cohorts.append(
                CohortRevenue(row["cohort_start"], row["cohort_end"], int(row["customers"]))
            )
        revenue = row["revenue"]
        cohorts[-1].horizons.append(
            HorizonRevenue(int(row["n"]), None if revenue is None else int(revenue))
        )
    return CohortRevenueTable(rows[0]["currency"], sorted(rows[0]["currencies"] or []), cohorts)


async def repeat_purchases(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    *,
    start: datetime,
    end: datetime,
    as_of: datetime,
    currency: str | None = None,
) -> RepeatPurchases:
    """``value.repeat_purchases`` in one statement."""
    params = {
        "tenant_id": tenant_id,
        "start": start,
        "end": end,
        "as_of": as_of,
        "currency": currency,
        "top": len(FREQUENCY_BUCKETS),
    }
    row = (await session.execute(text(_REPEAT_SQL), params)).mappings().one()
    frequency = {bucket: 0 for bucket in FREQUENCY_BUCKETS}
    for n, customers in zip(row["buckets"] or [], row["customers"] or [], strict=True):
        frequency[FREQUENCY_BUCKETS[n - 1]] = int(customers)
    median_gap = row["median_gap"]
    return RepeatPurchases(
        currency=row["currency"],
        other_currencies=sorted(row["currencies"] or []),
        purchases=int(row["purchases"]),
        revenue=int(row["revenue"]),
        buyers=sum(frequency.values()),
        repeat_buyers=sum(frequency.values()) - frequency[FREQUENCY_BUCKETS[0]],
        median_interval_days=None if median_gap is None else float(median_gap),
        frequency=frequency,
    )
