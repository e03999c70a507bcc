"""What cancellation flows achieve: outcomes per offer kind, reason and variant, and the lift of
offers over the holdout (service and set-based SQL).

Definitions, for a flow and the tenant's ``keep_days`` K (one setting for all flows: the current
one), as of ``now``:

* A flow **ends** when it is decided (``decided_at``) or, if never decided, when it expires
  (``expires_at``, 24 h after it started: it is then **abandoned**).
* **accepted**: the customer took an offer. **kept**: accepted, and the customer did not churn
  (no ``churned`` row in ``customer_status_changes``) in (end, end + K].
* **saved**: the flow did not end in a decline, and the customer did not churn in
  (end, end + K]. A kept flow is saved; so is a flow the customer walked away from (abandoned)
  and stayed. This is what the holdout can be compared on: holdout flows show no offer, so
  nothing is ever accepted there, but a holdout customer can still stay.
* **pending**: younger than its keep window: the flow is still open, or it ended less than K
  days before ``now``, whatever its outcome so far. A decline or an early churn is known at
  once but a save only after K days; counting the first before the second would bias every
  rate downwards, so rates wait until a flow's window is over.
* **resolved** = flows - pending (the flows whose window is over). Rates are over resolved
  flows: ``save_rate`` = saved / resolved.

Per offer kind, a treatment flow counts once for every kind it *showed*; a holdout flow counts
once for every kind it *would have shown* (``offers_withheld``): the holdout row of a kind is
the control group of exactly the customers that kind was eligible for. A flow with no offer
counts under kind ``null``. ``accepted`` and ``kept`` of a kind row are the flows that accepted
an offer of that kind. The **lift** of a treatment row is its save rate minus the save rate of
the holdout row with the same kind and reason, with a 95% interval (:mod:`app.offers.stats`).

Periods select flows by when they started: ``created_at`` in [start, end).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.offers.rules import SaveStats
from app.offers.service import get_offer_settings
from app.offers.stats import Lift, lift, rate

SAVE_STATS_DAYS = 365
"""Ranking learns from the flows of the last year: recent enough to follow a changing product,
long enough to reach the minimum number of flows."""

# One definition of a flow's outcome, shared by every query below. Parameters: tenant_id, now,
# keep (an interval), start, end, reason (null: every reason).
_OUTCOMES = """
WITH flows AS (
    SELECT f.id, f.customer_id, f.reason, f.variant, f.accepted_offer_id, f.accepted_kind,
           f.offers_shown, f.offers_withheld,
           CASE WHEN f.status = 'open' AND f.expires_at <= :now THEN 'abandoned'
                ELSE f.status END AS outcome,
           CASE WHEN f.status <> 'open' THEN f.decided_at
                WHEN f.expires_at <= :now THEN f.expires_at END AS ended_at
    FROM cancellation_flows f
    WHERE f.tenant_id = :tenant_id AND f.created_at >= :start AND f.created_at < :end
      AND (CAST(:reason AS text) IS NULL OR f.reason = CAST(:reason AS text))
), judged AS (
    SELECT flows.*,
           EXISTS (
               SELECT 1 FROM customer_status_changes c
               WHERE c.tenant_id = :tenant_id AND c.customer_id = flows.customer_id
                 AND c.kind = 'churned' AND c.effective_at > flows.ended_at
                 AND c.effective_at <= LEAST(flows.ended_at + :keep, :now)
           ) AS churned,
           flows.ended_at IS NOT NULL AND flows.ended_at + :keep <= :now AS window_over
    FROM flows
), outcomes AS (
    SELECT judged.*,
           NOT window_over AS pending,
           outcome <> 'declined' AND ended_at IS NOT NULL AND NOT churned AND window_over
               AS saved,
           outcome = 'accepted' AND NOT churned AND window_over AS kept
    FROM judged
)
"""

_SAVE_STATS = text(
    _OUTCOMES
    + """
SELECT CAST(o.value ->> 'offer_id' AS uuid) AS offer_id, count(*) AS flows,
       count(*) FILTER (
           WHERE kept AND accepted_offer_id = CAST(o.value ->> 'offer_id' AS uuid)
       ) AS saved
FROM outcomes CROSS JOIN LATERAL jsonb_array_elements(outcomes.offers_shown) AS o
WHERE variant = 'treatment' AND NOT pending
GROUP BY 1
"""
)

_COUNTS = """
       count(*) AS flows,
       count(*) FILTER (WHERE accepted_kind IS NOT NULL AND accepted_kind = kind) AS accepted,
       count(*) FILTER (WHERE kept AND accepted_kind = kind) AS kept,
       count(*) FILTER (WHERE outcome = 'declined') AS declined,
       count(*) FILTER (WHERE outcome = 'abandoned') AS abandoned,
       count(*) FILTER (WHERE pending) AS pending,
       count(*) FILTER (WHERE saved) AS saved
"""

# Static SQL joined from the constants above; every value travels as a bound parameter.
_BY_KIND = text(
    _OUTCOMES  # noqa: S608
    + """
, exposed AS (
    SELECT outcomes.*, k.kind
    FROM outcomes CROSS JOIN LATERAL (
        SELECT DISTINCT o.value ->> 'kind' AS kind
        FROM jsonb_array_elements(
            CASE WHEN variant = 'treatment' THEN offers_shown ELSE offers_withheld END
        ) AS o
    ) AS k
    UNION ALL
    SELECT outcomes.*, CAST(NULL AS text) AS kind
    FROM outcomes
    WHERE jsonb_array_length(
        CASE WHEN variant = 'treatment' THEN offers_shown ELSE offers_withheld END
    ) = 0
)
SELECT kind, reason, variant,"""
    + _COUNTS
    + """
FROM exposed
GROUP BY kind, reason, variant
ORDER BY kind NULLS LAST, reason, variant DESC
"""
)

_BY_VARIANT = text(
    _OUTCOMES  # noqa: S608
    + """
SELECT variant,"""
    + _COUNTS
    + """
FROM (SELECT outcomes.*, accepted_kind AS kind FROM outcomes) AS exposed
GROUP BY variant
"""
)


async def _without_jit(session: AsyncSession) -> None:
    """Turn JIT compilation off for the rest of the transaction. PostgreSQL's cost estimates
    for the per-flow churn probe exceed its JIT thresholds, and compiling then costs more than
    it saves: measured on 50,000 flows, 190 ms without JIT, 325 ms with."""
    await session.execute(text("SET LOCAL jit = off"))


async def offer_save_stats(
    session: AsyncSession, tenant_id: uuid.UUID, reason: str, now: datetime, keep_days: int
) -> SaveStats:
    """(offer id, reason) -> (resolved treatment flows that showed the offer, flows it kept)
    over the flows with this ``reason`` started in the last :data:`SAVE_STATS_DAYS` days: what
    :func:`app.offers.rules.rank_offers` orders offers by once there are enough."""
    await _without_jit(session)
    rows = await session.execute(
        _SAVE_STATS,
        {
            "tenant_id": tenant_id,
            "now": now,
            "keep": timedelta(days=keep_days),
            "start": now - timedelta(days=SAVE_STATS_DAYS),
            "end": now,
            "reason": reason,
        },
    )
    return {(offer_id, reason): (flows, saved) for offer_id, flows, saved in rows}


@dataclass(frozen=True, kw_only=True)
class Counts:
    """Flow counts of one group; see the module docstring for each definition."""

    flows: int = 0
    accepted: int = 0
    kept: int = 0
    declined: int = 0
    abandoned: int = 0
    pending: int = 0
    saved: int = 0

    @property
    def resolved(self) -> int:
        return self.flows - self.pending

    @property
    def save_rate(self) -> float | None:
        return rate(self.saved, self.resolved)

    @property
    def keep_rate(self) -> float | None:
        """kept / resolved: the share of flows an accepted offer (of this kind) saved."""
        return rate(self.kept, self.resolved)

    def plus(self, other: Counts) -> Counts:
        return Counts(
            flows=self.flows + other.flows,
            accepted=self.accepted + other.accepted,
            kept=self.kept + other.kept,
            declined=self.declined + other.declined,
            abandoned=self.abandoned + other.abandoned,
            pending=self.pending + other.pending,
            saved=self.saved + other.saved,
        )


def _lift(treatment: Counts, holdout: Counts | None) -> Lift | None:
    if holdout is None:
        return None
    return lift(treatment.saved, treatment.resolved, holdout.saved, holdout.resolved)


@dataclass(frozen=True, kw_only=True)
class ReportRow:
    kind: str | None
    reason: str
    variant: str
    counts: Counts
    lift: Lift | None = None


@dataclass(frozen=True, kw_only=True)
class FlowReport:
    start: datetime
    end: datetime
    as_of: datetime
    keep_days: int
    holdout_share_bp: int
    total: Counts
    treatment: Counts
    holdout: Counts
    lift: Lift | None
    rows: list[ReportRow] = field(default_factory=list)


def _counts(row: Any) -> Counts:
    return Counts(
        flows=row.flows,
        accepted=row.accepted,
        kept=row.kept,
        declined=row.declined,
        abandoned=row.abandoned,
        pending=row.pending,
        saved=row.saved,
    )


async def flow_report(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    start: datetime,
    end: datetime,
    *,
    now: datetime | None = None,
) -> FlowReport:
    """Outcomes of the flows started in [start, end), as of ``now``, per offer kind, reason and
    variant, with totals and the lift of treatment over holdout (module docstring)."""
    now = now or datetime.now(UTC)
    settings = await get_offer_settings(session, tenant_id)
    params = {
        "tenant_id": tenant_id,
        "now": now,
        "keep": timedelta(days=settings.keep_days),
        "start": start,
        "end": end,
        "reason": None,
    }
    await _without_jit(session)
    by_variant = {row.variant: _counts(row) for row in await session.execute(_BY_VARIANT, params)}
    grouped = [
        (row.kind, row.reason, row.variant, _counts(row))
        for row in await session.execute(_BY_KIND, params)
    ]
    holdouts = {
        (kind, reason): counts for kind, reason, variant, counts in grouped if variant == "holdout"
    }
    rows = [
        ReportRow(
            kind=kind,
            reason=reason,
            variant=variant,
            counts=counts,
            lift=_lift(counts, holdouts.get((kind, reason))) if variant == "treatment" else None,
        )
        for kind, reason, variant, counts in grouped
    ]
    treatment = by_variant.get("treatment", Counts())
    holdout = by_variant.get("holdout", Counts())
    return FlowReport(
        start=start,
        end=end,
        as_of=now,
        keep_days=settings.keep_days,
        holdout_share_bp=settings.holdout_share_bp,
        total=treatment.plus(holdout),
        treatment=treatment,
        holdout=holdout,
        lift=_lift(treatment, holdout if holdout.flows else None),
        rows=rows,
    )
