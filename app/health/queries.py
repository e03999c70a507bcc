"""Read side of health: one customer's score with its trend, history, bulk lookup, the "who
needs attention" list, and the backtest."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app import cursors
from app.customers.repository import customer_exists
from app.customers.sql import projected_status, tenant_customers
from app.errors import InvalidInput, NotFound
from app.health import learning
from app.health.freshness import score_if_dirty
from app.health.model import MODEL_REVISION
from app.health.schemas import (
    CustomerSummary,
    FactorRead,
    HealthRead,
    LearnedModelList,
    LearnedModelRead,
    MissingFactorRead,
    ModelRead,
    SnapshotRead,
    TierDayRead,
    TierTrendRead,
    Trend,
)
from app.health.scoring import Scored, score_customers
from app.health.service import current_settings
from app.models import HealthModel

FLAT = 1.0  # points: a smaller change reads as flat


def to_read(s: Scored, computed_at: datetime, trend: Trend | None) -> HealthRead:
    r = s.result
    return HealthRead(
        customer_id=s.customer_id,
        score=r.score,
        tier=r.tier,
        status=s.status,
        as_of=s.as_of,
        computed_at=computed_at,
        model_version=s.model_version,
        model_revision=MODEL_REVISION,
        factors=[FactorRead(**asdict(f)) for f in r.factors],
        missing_factors=[MissingFactorRead(**asdict(m)) for m in r.missing],
        summary=r.summary,
        model=ModelRead(
            kind="learned" if s.model.kind == "learned" else "expert",
            version=s.model.version,
            trained_at=s.model.trained_at,
            validation_auc=s.model.validation_auc,
            expert_auc=s.model.expert_auc,
            reason=s.model.reason,
        ),
        trend=trend,
    )


async def _past_scores(
    session: AsyncSession, tenant_id: uuid.UUID, customer_ids: Sequence[str], today: date
) -> dict[str, tuple[float | None, float | None]]:
    """Each customer's snapshot score 7 and 30 days ago (the latest snapshot on or before)."""
    rows = await session.execute(
        text("""
            SELECT c.id AS customer_id,
                   (SELECT score FROM health_snapshots s WHERE s.tenant_id = :t
                      AND s.customer_id = c.id AND s.day <= :d7 ORDER BY s.day DESC LIMIT 1) AS s7,
                   (SELECT score FROM health_snapshots s WHERE s.tenant_id = :t
                      AND s.customer_id = c.id AND s.day <= :d30 ORDER BY s.day DESC LIMIT 1) AS s30
            FROM unnest(CAST(:ids AS text[])) AS c(id)
        """),
        {
            "t": tenant_id,
            "ids": list(customer_ids),
            "d7": today - timedelta(days=7),
            "d30": today - timedelta(days=30),
        },
    )
    return {row.customer_id: (row.s7, row.s30) for row in rows}


def trend_of(score: float | None, s7: float | None, s30: float | None) -> Trend:
    change_7d = round(score - s7, 2) if score is not None and s7 is not None else None
    change_30d = round(score - s30, 2) if score is not None and s30 is not None else None
    reference = change_7d if change_7d is not None else change_30d
    direction: Literal["up", "down", "flat"] | None = None
    if reference is not None:
        direction = "flat" if abs(reference) < FLAT else "up" if reference > 0 else "down"
    return Trend(change_7d=change_7d, change_30d=change_30d, direction=direction)


async def health_of(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    customer_ids: Sequence[str],
    as_of: datetime | None,
) -> dict[str, HealthRead]:
    """Fresh scores (computed now, or as of a past instant) with their trends."""
    now = datetime.now(UTC)
    if as_of is None or as_of >= now:
        # Read-your-writes: customers with events not yet scored are materialised first, so
        # what this read shows is also what lists, tiers and webhooks show.
        await score_if_dirty(session, tenant_id, customer_ids)
    scored = await score_customers(session, tenant_id, customer_ids, as_of=as_of, now=now)
    past = (
        await _past_scores(session, tenant_id, list(scored), now.date())
        if as_of is None or as_of >= now
        else {}
    )
    out = {}
    for customer_id, s in scored.items():
        trend = trend_of(s.result.score, *past[customer_id]) if customer_id in past else None
        out[customer_id] = to_read(s, now, trend)
    return out


async def customer_health(
    session: AsyncSession, tenant_id: uuid.UUID, customer_id: str, as_of: datetime | None
) -> HealthRead:
    found = await health_of(session, tenant_id, [customer_id], as_of)
    if customer_id not in found:
        when = f" at {as_of.isoformat()}" if as_of else ""
        raise NotFound(f"No customer {customer_id!r} in this tenant{when}.")
    return found[customer_id]


async def health_history(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    customer_id: str,
    start: date | None,
    end: date | None,
) -> list[SnapshotRead]:
    if not await customer_exists(session, tenant_id, customer_id):
        raise NotFound(f"No customer {customer_id!r} in this tenant.")
    rows = await session.execute(
        text("""
            SELECT day, score, tier, model_version FROM health_snapshots
            WHERE tenant_id = :t AND customer_id = :c
              AND (CAST(:start AS date) IS NULL OR day >= :start)
              AND (CAST(:end AS date) IS NULL OR day <= :end)
            ORDER BY day
        """),
        {"t": tenant_id, "c": customer_id, "start": start, "end": end},
    )
    return [
        SnapshotRead(day=r.day, score=r.score, tier=r.tier, model_version=r.model_version)
        for r in rows
    ]


async def tier_distribution(session: AsyncSession, tenant_id: uuid.UUID) -> dict[str, int]:
    """Subscribers (active or paused when last scored) per tier; ``unscored`` when the model had
    no data."""
    rows = await session.execute(
        text("""
            SELECT coalesce(tier, 'unscored') AS tier, count(*) AS n FROM health_scores
            WHERE tenant_id = :t AND status IN ('active', 'paused')
            GROUP BY 1
        """),
        {"t": tenant_id},
    )
    counts = {"healthy": 0, "at_risk": 0, "critical": 0, "unscored": 0}
    counts.update({row.tier: row.n for row in rows})
    return counts


MAX_TREND_DAYS = 366
DEFAULT_TREND_DAYS = 90

# Each customer's status spans [since, until) from its status changes; a snapshot counts when
# its customer's span covering the end of the snapshot's day (or now, for today) is active or
# paused. "The status at t" is the one after every change effective strictly before t, as in
# the churn metrics, so a day's subscribers are the customers active at the next midnight.
_TIER_TREND = """
WITH spans AS (
    SELECT customer_id, status, effective_at AS since,
           lead(effective_at) OVER (PARTITION BY customer_id ORDER BY effective_at, seq) AS until
    FROM customer_status_changes
    WHERE tenant_id = :t AND effective_at < :horizon
),
snaps AS (
    SELECT customer_id, day, tier,
           least(CAST(day + 1 AS timestamp) AT TIME ZONE 'UTC', :now) AS at
    FROM health_snapshots
    WHERE tenant_id = :t AND day >= :start AND day <= :end
)
SELECT s.day,
       count(p.customer_id) FILTER (WHERE s.tier = 'healthy') AS healthy,
       count(p.customer_id) FILTER (WHERE s.tier = 'at_risk') AS at_risk,
       count(p.customer_id) FILTER (WHERE s.tier = 'critical') AS critical,
       count(p.customer_id) FILTER (WHERE s.tier IS NULL) AS unscored,
       count(p.customer_id) AS subscribers
FROM snaps s
LEFT JOIN spans p
  ON p.customer_id = s.customer_id AND p.since < s.at AND (p.until IS NULL OR p.until >= s.at)
     AND p.status IN ('active', 'paused')
GROUP BY s.day
ORDER BY s.day
"""


def trend_range(start: date | None, end: date | None, today: date) -> tuple[date, date]:
    """The days ``[start, end]`` (inclusive) a tier trend covers: ``end`` defaults to today,
    ``start`` to 89 days before ``end``; at most 366 days."""
    end = end or (today if start is None else min(today, _shift(start, MAX_TREND_DAYS - 1)))
    start = start or _shift(end, -(DEFAULT_TREND_DAYS - 1))
    if start > end:
        raise InvalidInput(
            "start must not be after end.",
            errors=[{"loc": ["query", "start"], "msg": "after end", "type": "value_error"}],
        )
    if (end - start).days >= MAX_TREND_DAYS:
        raise InvalidInput(
            f"The range may span at most {MAX_TREND_DAYS} days.",
            errors=[{"loc": ["query", "end"], "msg": "range too long", "type": "value_error"}],
        )
    return start, end


def _shift(day: date, days: int) -> date:
    # Clamped to the calendar instead of overflowing near year 1 or 9999.
    return date.fromordinal(min(max(1, day.toordinal() + days), date.max.toordinal()))


async def tier_trend(
    session: AsyncSession, tenant_id: uuid.UUID, start: date | None, end: date | None
) -> TierTrendRead:
    """Per day of ``[start, end]`` (see :func:`trend_range`) that has snapshots: the subscribers
    (customers active or paused at the end of that UTC day, or now for today) by the tier of
    their snapshot of that day. Subscribers without a snapshot that day are not counted; one
    whose snapshot has no score counts as ``unscored``."""
    now = datetime.now(UTC)
    start, end = trend_range(start, end, now.date())
    horizon = now if end >= now.date() else datetime.combine(end + timedelta(days=1), time.min, UTC)
    rows = await session.execute(
        text(_TIER_TREND),
        {"t": tenant_id, "start": start, "end": end, "now": now, "horizon": horizon},
    )
    days = [
        TierDayRead(
            day=r.day,
            healthy=r.healthy,
            at_risk=r.at_risk,
            critical=r.critical,
            unscored=r.unscored,
            subscribers=r.subscribers,
        )
        for r in rows
    ]
    return TierTrendRead(start=start, end=end, days=days)


# -- the attention list -------------------------------------------------------------------------

Order = Literal["score", "-score", "customer_id"]

PROJECTED_STATUS = projected_status("c", ":now")


def _encode(values: list[Any]) -> str:
    return cursors.encode_score_id(None if len(values) == 1 else values[0], values[-1])


def _decode(cursor: str, order: Order) -> list[Any]:
    score, customer_id = cursors.decode_score_id(cursor)
    return [customer_id] if order == "customer_id" else [score, customer_id]


async def list_customers(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    *,
    tier: str | None,
    status: str | None,
    order: Order,
    limit: int,
    cursor: str | None,
) -> tuple[list[CustomerSummary], str | None]:
    """Customers with their materialised score and its change over 7 and 30 days. ``score``
    orders worst first (unscored last); keyset pagination, stable under inserts."""
    now = datetime.now(UTC)
    today = now.date()
    params: dict[str, Any] = {
        "t": tenant_id,
        "now": now,
        "tier": tier,
        "status": status,
        "limit": limit + 1,
        "d7": today - timedelta(days=7),
        "d30": today - timedelta(days=30),
    }
    # NULL scores sort as +infinity ascending (last) and -infinity descending (last).
    if order == "score":
        key, direction = "coalesce(h.score, 'Infinity'::float8)", "ASC"
    elif order == "-score":
        key, direction = "coalesce(h.score, '-Infinity'::float8)", "DESC"
    else:
        key, direction = "", "ASC"
    seek = ""
    if cursor:
        values = _decode(cursor, order)
        params["cid"] = values[-1]
        if order == "customer_id":
            seek = "AND c.customer_id > :cid"
        else:
            params["cscore"] = (
                values[0]
                if values[0] is not None
                else (float("inf") if order == "score" else float("-inf"))
            )
            op = ">" if direction == "ASC" else "<"
            seek = f"AND ({key} {op} :cscore OR ({key} = :cscore AND c.customer_id > :cid))"
    order_by = f"{key} {direction}, c.customer_id" if key else "c.customer_id"
    sql = f"""
        SELECT c.customer_id, {PROJECTED_STATUS} AS status, c.plan,
               CASE WHEN {PROJECTED_STATUS} = 'active' THEN c.plan_mrr ELSE 0 END AS mrr,
               c.currency, h.score, h.tier, h.summary, h.computed_at AS scored_at,
               h.score - (SELECT score FROM health_snapshots s WHERE s.tenant_id = c.tenant_id
                          AND s.customer_id = c.customer_id AND s.day <= :d7
                          ORDER BY s.day DESC LIMIT 1) AS change_7d,
               h.score - (SELECT score FROM health_snapshots s WHERE s.tenant_id = c.tenant_id
                          AND s.customer_id = c.customer_id AND s.day <= :d30
                          ORDER BY s.day DESC LIMIT 1) AS change_30d
        FROM {tenant_customers(":t")} c
        LEFT JOIN health_scores h ON h.tenant_id = c.tenant_id AND h.customer_id = c.customer_id
        WHERE c.tenant_id = :t
          AND (CAST(:tier AS text) IS NULL OR h.tier = :tier)
          AND (CAST(:status AS text) IS NULL OR {PROJECTED_STATUS} = :status)
          {seek}
        ORDER BY {order_by}
        LIMIT :limit
    """
    rows = (await session.execute(text(sql), params)).all()
    items = [
        CustomerSummary(
            customer_id=r.customer_id,
            status=r.status,
            plan=r.plan,
            mrr=r.mrr,
            currency=r.currency,
            score=r.score,
            tier=r.tier,
            change_7d=round(r.change_7d, 2) if r.change_7d is not None else None,
            change_30d=round(r.change_30d, 2) if r.change_30d is not None else None,
            summary=r.summary,
            scored_at=r.scored_at,
        )
        for r in rows[:limit]
    ]
    next_cursor = None
    if len(rows) > limit:
        last = items[-1]
        next_cursor = _encode(
            [last.customer_id] if order == "customer_id" else [last.score, last.customer_id]
        )
    return items, next_cursor


# -- learned models -----------------------------------------------------------------------------


def _model_read(row: HealthModel) -> LearnedModelRead:
    tiers = row.parameters.get("tiers") if row.parameters else None
    return LearnedModelRead(
        version=row.version,
        trained_at=row.trained_at,
        labels_until=row.labels_until,
        horizon_days=row.horizon_days,
        train_from=row.train_from,
        train_to=row.train_to,
        validation_from=row.validation_from,
        validation_to=row.validation_to,
        examples=row.examples,
        positives=row.positives,
        validation_examples=row.validation_examples,
        validation_positives=row.validation_positives,
        auc_learned=row.auc_learned,
        auc_expert=row.auc_expert,
        active=row.active,
        reason=row.reason,
        tiers=tiers,
    )


async def train_model(session: AsyncSession, tenant_id: uuid.UUID) -> LearnedModelRead:
    _, settings = await current_settings(session, tenant_id)
    now = datetime.now(UTC)
    row = await learning.train_and_store(session, tenant_id, now, settings, now=now)
    return _model_read(row)


async def learned_models(session: AsyncSession, tenant_id: uuid.UUID) -> LearnedModelList:
    rows = await session.scalars(
        select(HealthModel)
        .where(HealthModel.tenant_id == tenant_id)
        .order_by(HealthModel.version.desc())
        .limit(50)
    )
    return LearnedModelList(items=[_model_read(row) for row in rows])
