"""SQL for lifecycle signals: the tenant's settings, the candidate scans (one statement per
signal, over all of the tenant's customers) and the dedupe records. Every statement filters by
tenant.

A candidate is a customer whose condition holds at ``now``, whose moment (``due_at``, when the
condition became true) lies in ``(now - catch_up_days, now]``, and whose occasion has no
dedupe record yet. The status checks read the customer's latest status change effective by
``now`` (so scheduled cancellations and pause ends count from their instant), through the
primary key, only for customers that passed the cheaper conditions.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.customers.repository import RHYTHM_CTES
from app.customers.sql import tenant_customers
from app.models import SignalSettings as SignalSettingsRow

# The customer's state at :now: its latest status change effective by then (a lead has none).
_STATE_NOW = """
LEFT JOIN LATERAL (
    SELECT k.status, k.plan, k.mrr, k.currency
    FROM customer_status_changes k
    WHERE k.tenant_id = :tenant_id AND k.customer_id = {customer} AND k.effective_at <= :now
    ORDER BY k.effective_at DESC, k.seq DESC
    LIMIT 1
) st ON true
"""

_NOT_EMITTED = """
NOT EXISTS (
    SELECT 1 FROM signal_emissions x
    WHERE x.tenant_id = :tenant_id AND x.customer_id = {customer} AND x.signal = '{signal}'
      AND x.dedupe_key = {key}
)
"""

_DUE = "{due} <= :now AND {due} > :now - make_interval(days => :catch_up_days)"

# Repeat buyers (a median interval exists) whose last purchase + factor x median has passed;
# once per last purchase day. Paused and cancelled customers are left alone: the pause or the
# cancellation explains the missing purchase (and churn has its own webhook).
_REORDER_OVERDUE = f"""
WITH {RHYTHM_CTES.format(where="")},
due AS (
    SELECT r.customer_id, r.purchase_days, r.median_gap, r.last_purchase_at,
           r.last_purchase_at + make_interval(secs => r.median_gap * 86400) AS expected_at,
           r.last_purchase_at + make_interval(secs => r.median_gap * :factor * 86400) AS due_at,
           to_char(r.last_purchase_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS dedupe_key
    FROM rhythm r
    WHERE r.median_gap IS NOT NULL
)
SELECT d.customer_id, d.dedupe_key, d.due_at, d.purchase_days, d.median_gap, d.last_purchase_at,
       d.expected_at, st.status
FROM due d
{_STATE_NOW.format(customer="d.customer_id")}
WHERE {_DUE.format(due="d.due_at")}
  AND {_NOT_EMITTED.format(customer="d.customer_id", signal="reorder_overdue", key="d.dedupe_key")}
  AND coalesce(st.status, 'lead') NOT IN ('paused', 'cancelled')
ORDER BY d.customer_id
"""

# Customers with usage whose last usage is :days old; once per last usage day.
_INACTIVE = f"""
SELECT c.customer_id,
       to_char(c.last_usage_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS dedupe_key,
       c.last_usage_at + make_interval(days => :days) AS due_at,
       c.last_usage_at, st.status, st.plan
FROM {tenant_customers(":tenant_id")} c
{_STATE_NOW.format(customer="c.customer_id")}
WHERE c.tenant_id = :tenant_id AND c.last_usage_at IS NOT NULL
  AND {_DUE.format(due="(c.last_usage_at + make_interval(days => :days))")}
  AND {
    _NOT_EMITTED.format(
        customer="c.customer_id",
        signal="inactive",
        key="to_char(c.last_usage_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
    )
}
  AND coalesce(st.status, 'lead') NOT IN ('paused', 'cancelled')
ORDER BY c.customer_id
"""

# Customers whose tenure since first activation reached a milestone, active now and healthy by
# their materialised score; once per milestone.
_LOYALTY_MILESTONE = f"""
WITH due AS (
    SELECT c.customer_id, c.subscribed_at, m.months,
           (c.subscribed_at AT TIME ZONE 'UTC' + make_interval(months => m.months))
               AT TIME ZONE 'UTC' AS due_at
    FROM {tenant_customers(":tenant_id")} c
    CROSS JOIN unnest(CAST(:months AS int[])) AS m(months)
    WHERE c.tenant_id = :tenant_id AND c.subscribed_at IS NOT NULL
)
SELECT d.customer_id, d.months::text AS dedupe_key, d.due_at, d.months, d.subscribed_at,
       h.score, st.plan, st.mrr, st.currency
FROM due d
JOIN health_scores h
  ON h.tenant_id = :tenant_id AND h.customer_id = d.customer_id AND h.tier = 'healthy'
{_STATE_NOW.format(customer="d.customer_id")}
WHERE {_DUE.format(due="d.due_at")}
  AND {
    _NOT_EMITTED.format(customer="d.customer_id", signal="loyalty_milestone", key="d.months::text")
}
  AND st.status = 'active'
ORDER BY d.customer_id, d.months
"""

_RECORD = """
INSERT INTO signal_emissions (tenant_id, customer_id, signal, dedupe_key, due_at, emitted_at,
                              event_id)
SELECT :tenant_id, u.customer_id, u.signal, u.dedupe_key, u.due_at, :now, u.event_id
FROM unnest(CAST(:customer_ids AS text[]), CAST(:signals AS text[]),
            CAST(:dedupe_keys AS text[]), CAST(:due_ats AS timestamptz[]),
            CAST(:event_ids AS uuid[])) AS u(customer_id, signal, dedupe_key, due_at, event_id)
ORDER BY u.customer_id, u.signal, u.dedupe_key
ON CONFLICT DO NOTHING
RETURNING event_id
"""


async def get_settings(session: AsyncSession, tenant_id: uuid.UUID) -> SignalSettingsRow | None:
    return await session.get(SignalSettingsRow, tenant_id)


async def upsert_settings(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    values: dict[str, Any],
    key_id: uuid.UUID | None,
) -> SignalSettingsRow:
    row = {**values, "updated_by_key_id": key_id}
    statement = pg_insert(SignalSettingsRow).values(tenant_id=tenant_id, **row)
    result = await session.execute(
        statement.on_conflict_do_update(
            index_elements=[SignalSettingsRow.tenant_id],
            set_={**row, "updated_at": statement.excluded.updated_at},
        )
        .returning(SignalSettingsRow)
        .execution_options(populate_existing=True)
    )
    return result.scalar_one()


async def _rows(session: AsyncSession, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    return [dict(row) for row in (await session.execute(text(sql), params)).mappings()]


def _params(tenant_id: uuid.UUID, now: datetime, catch_up_days: int) -> dict[str, Any]:
    return {"tenant_id": tenant_id, "now": now, "catch_up_days": catch_up_days}


async def reorder_overdue(
    session: AsyncSession, tenant_id: uuid.UUID, now: datetime, catch_up_days: int, factor: float
) -> list[dict[str, Any]]:
    params = {**_params(tenant_id, now, catch_up_days), "factor": factor}
    return await _rows(session, _REORDER_OVERDUE, params)


async def inactive(
    session: AsyncSession, tenant_id: uuid.UUID, now: datetime, catch_up_days: int, days: int
) -> list[dict[str, Any]]:
    params = {**_params(tenant_id, now, catch_up_days), "days": days}
    return await _rows(session, _INACTIVE, params)


async def loyalty_milestones(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    now: datetime,
    catch_up_days: int,
    months: Sequence[int],
) -> list[dict[str, Any]]:
    params = {**_params(tenant_id, now, catch_up_days), "months": list(months)}
    return await _rows(session, _LOYALTY_MILESTONE, params)


@dataclass(frozen=True, slots=True)
class Emission:
    customer_id: str
    signal: str
    dedupe_key: str
    due_at: datetime
    event_id: uuid.UUID


async def record(
    session: AsyncSession, tenant_id: uuid.UUID, emissions: Sequence[Emission], now: datetime
) -> set[uuid.UUID]:
    """Insert the dedupe records that do not exist yet (in key order, so concurrent scans
    cannot deadlock); the event ids of those actually inserted. A record another transaction
    is inserting makes this one wait for it, then skip it."""
    if not emissions:
        return set()
    result = await session.execute(
        text(_RECORD),
        {
            "tenant_id": tenant_id,
            "now": now,
            "customer_ids": [e.customer_id for e in emissions],
            "signals": [e.signal for e in emissions],
            "dedupe_keys": [e.dedupe_key for e in emissions],
            "due_ats": [e.due_at for e in emissions],
            "event_ids": [e.event_id for e in emissions],
        },
    )
    return set(result.scalars())
