"""Scoring customers: gather the model's inputs for many customers in a few statements, score
them with the tenant's settings, and materialise the results.

Two ways to see a customer:

* **now** — from the folded ``customers`` row, with scheduled transitions resolved against the
  clock (:func:`app.customers.fold.project`);
* **as of a past instant** — re-folded from the events that had occurred by then (backfilled
  events count: what matters is when something happened, not when Holdfast heard of it).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.customers import repository as customers
from app.customers.fold import fold_lifecycle, project
from app.customers.repository import IdRange
from app.customers.service import lifecycle_from_row
from app.health import learned, learning, repository
from app.health.features import build_features
from app.health.inputs import Lifecycle, load_histories
from app.health.model import MODEL_REVISION, Factor, HealthResult, expert_scores, explain
from app.health.model import briefs as expert_briefs
from app.health.service import current_settings
from app.health.settings import HealthSettings
from app.webhooks.service import enqueue_many


@dataclass(frozen=True)
class ModelInfo:
    """Which model produced a score: ``expert`` (the tenant's settings ``version``) or
    ``learned`` (the stored model ``version``)."""

    kind: str
    version: int
    trained_at: datetime | None = None
    validation_auc: float | None = None
    expert_auc: float | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Scored:
    customer_id: str
    status: str
    as_of: datetime
    model_version: int
    result: HealthResult
    model: ModelInfo = ModelInfo("expert", 0)


def _settled(row: Mapping[str, Any], at: datetime) -> bool:
    """Whether the row has no scheduled transition due by ``at`` (projecting changes nothing):
    most rows, and the fold is the slow part of reading them."""
    cancel, paused, discount = (
        row["cancel_effective_at"],
        row["paused_until"],
        row["discount_until"],
    )
    return (
        (cancel is None or cancel > at)
        and (paused is None or paused > at)
        and (discount is None or discount > at)
    )


async def lifecycles_at(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    customer_ids: Sequence[str] | IdRange | None,
    at: datetime,
    *,
    current: bool,
    lock: bool = False,
) -> dict[str, Lifecycle]:
    """Each customer known at ``at``: from its folded row projected to ``at`` when ``current``,
    else re-folded from the events that occurred before ``at``."""
    if current:
        rows = await customers.customer_rows(session, tenant_id, customer_ids, lock=lock)
        out = {}
        for row in rows:
            if row["first_seen_at"] > at:
                continue
            if _settled(row, at):
                out[row["customer_id"]] = Lifecycle(
                    status=row["status"],
                    first_seen_at=row["first_seen_at"],
                    subscribed_at=row["subscribed_at"],
                    plan_mrr=row["plan_mrr"],
                    paused_until=row["paused_until"],
                    cancel_effective_at=row["cancel_effective_at"],
                    nps_latest=row["nps_latest"],
                    nps_previous=row["nps_previous"],
                    nps_at=row["nps_at"],
                    last_usage_at=row["last_usage_at"],
                )
                continue
            life = project(lifecycle_from_row(row), at)
            out[row["customer_id"]] = Lifecycle(
                status=life.status,
                first_seen_at=row["first_seen_at"],
                subscribed_at=life.subscribed_at,
                plan_mrr=life.plan_mrr,
                paused_until=life.paused_until,
                cancel_effective_at=life.cancel_effective_at,
                nps_latest=life.nps_latest,
                nps_previous=life.nps_previous,
                nps_at=life.nps_at,
                last_usage_at=row["last_usage_at"],
            )
        return out
    assert not isinstance(customer_ids, IdRange), "ranges are for walks over the present"
    history = await repository.history_until(session, tenant_id, customer_ids, at)
    out = {}
    for customer_id, h in history.items():
        life = project(fold_lifecycle(h.lifecycle)[0], at)
        out[customer_id] = Lifecycle(
            status=life.status,
            first_seen_at=h.first_seen_at,
            subscribed_at=life.subscribed_at,
            plan_mrr=life.plan_mrr,
            paused_until=life.paused_until,
            cancel_effective_at=life.cancel_effective_at,
            nps_latest=life.nps_latest,
            nps_previous=life.nps_previous,
            nps_at=life.nps_at,
            last_usage_at=h.last_usage_at,
        )
    return out


@dataclass(frozen=True)
class Models:
    """What scores a tenant at one instant: its expert settings (and their version) and the
    learned model chosen for that instant. A walk over many chunks reads them once."""

    version: int
    settings: HealthSettings
    picked: learning.Chosen


async def models_for(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    *,
    as_of: datetime | None = None,
    now: datetime | None = None,
) -> Models:
    """The models that score the tenant as of ``as_of`` (default: now; an instant at or after
    ``now`` is now)."""
    now = now or datetime.now(UTC)
    current = as_of is None or as_of >= now
    at = as_of if as_of is not None and not current else now
    version, settings = await current_settings(session, tenant_id)
    picked = await learning.for_instant(session, tenant_id, at, settings, current=current, now=now)
    return Models(version, settings, picked)


@dataclass(frozen=True)
class ScoredBatch:
    """Scores of many customers, explained on demand: ``result(i)`` is customer ``i``'s
    result, built when asked for, so a rescore of thousands explains in full only the few
    whose tier changed; ``briefs()`` is everyone's score, tier and summary."""

    customer_ids: list[str]
    statuses: list[str]
    as_of: datetime
    model_version: int
    model: ModelInfo
    result: Callable[[int], HealthResult]
    briefs: Callable[[], list[HealthResult]]


async def score_batch(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    customer_ids: Sequence[str] | IdRange | None,
    *,
    as_of: datetime | None = None,
    now: datetime | None = None,
    models: Models | None = None,
    lock: bool = False,
) -> ScoredBatch | None:
    """Score ``customer_ids`` (ids, a range of ids, or every customer of the tenant when None)
    as of ``as_of`` (default: now) from what happened before that instant; None when none of
    them is known at that instant (customers unknown then are left out)."""
    now = now or datetime.now(UTC)
    current = as_of is None or as_of >= now
    at = now if current else as_of
    assert at is not None
    models = models or await models_for(session, tenant_id, as_of=as_of, now=now)
    version, settings, picked = models.version, models.settings, models.picked
    lifecycles = await lifecycles_at(
        session, tenant_id, customer_ids, at, current=current, lock=lock
    )
    if not lifecycles:
        return None
    ids = sorted(lifecycles)
    # One customer is its own dense range; a chunk is when no other customer sits between.
    dense = (
        customer_ids is None
        or isinstance(customer_ids, IdRange)
        or len(ids) == 1
        or len(ids) == await customers.customers_between(session, tenant_id, ids[0], ids[-1])
    )
    learned_model = picked.model
    histories = await load_histories(
        session,
        tenant_id,
        at,
        lifecycles,
        settings,
        dense=dense,
        features=learned_model.top_features if learned_model is not None else (),
    )
    features = build_features(histories)
    row = picked.row
    result: Callable[[int], HealthResult]
    if learned_model is not None and row is not None:
        learned_scores = learned.learned_scores(learned_model, features)

        def result(i: int) -> HealthResult:
            return learned.explain_learned(learned_model, learned_scores, i)

        def briefs() -> list[HealthResult]:
            return [
                learned.explain_learned(learned_model, learned_scores, i, brief=True)
                for i in range(histories.n)
            ]

        info = ModelInfo(
            "learned", row.version, row.trained_at, row.auc_learned, row.auc_expert, row.reason
        )
    else:
        scores = expert_scores(features, settings)

        def result(i: int) -> HealthResult:
            return explain(scores, i, settings)

        def briefs() -> list[HealthResult]:
            return expert_briefs(scores, settings)

        info = ModelInfo(
            "expert",
            version,
            None,
            row.auc_learned if row is not None else None,
            row.auc_expert if row is not None else None,
            picked.reason,
        )
    return ScoredBatch(
        customer_ids=list(histories.customer_ids),
        statuses=[lifecycles[cid].status for cid in histories.customer_ids],
        as_of=at,
        model_version=version,
        model=info,
        result=result,
        briefs=briefs,
    )


async def score_customers(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    customer_ids: Sequence[str] | None,
    *,
    as_of: datetime | None = None,
    now: datetime | None = None,
) -> dict[str, Scored]:
    """:func:`score_batch`, every customer explained."""
    batch = await score_batch(session, tenant_id, customer_ids, as_of=as_of, now=now)
    if batch is None:
        return {}
    return {
        customer_id: Scored(
            customer_id=customer_id,
            status=batch.statuses[i],
            as_of=batch.as_of,
            model_version=batch.model_version,
            result=batch.result(i),
            model=batch.model,
        )
        for i, customer_id in enumerate(batch.customer_ids)
    }


@dataclass
class RescoreOutcome:
    scored: int = 0
    tier_changes: int = 0
    churned: list[str] = field(default_factory=list)
    reactivated: list[str] = field(default_factory=list)


def top_factors(result: HealthResult, n: int = 3) -> list[dict[str, Any]]:
    """The factors that cost the most points, worst first: expert factors by weight x (1 -
    sub-score), learned ones by how far they pull the score down."""

    def cost(f: Factor) -> float:
        return f.weight * (1 - f.score) if f.score is not None else -f.contribution

    costs = sorted(result.factors, key=cost, reverse=True)
    return [
        {"name": f.name, "score": f.score, "detail": f.detail} for f in costs[:n] if cost(f) > 0
    ]


async def rescore(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    customer_ids: Sequence[str] | IdRange | None,
    *,
    now: datetime | None = None,
    models: Models | None = None,
) -> RescoreOutcome:
    """Recompute and store the current score of ``customer_ids`` (all when None), write the
    day's snapshot, and announce what changed since the stored score: tier changes, and status
    changes into or out of ``cancelled`` (including those that happened by the clock alone)."""
    now = now or datetime.now(UTC)
    batch = await score_batch(session, tenant_id, customer_ids, now=now, models=models, lock=True)
    outcome = RescoreOutcome()
    if batch is None:
        return outcome
    outcome.scored = len(batch.customer_ids)
    previous = await repository.stored_scores(session, tenant_id, batch.customer_ids)
    rows = []
    announcements: list[tuple[str, dict[str, Any]]] = []
    for i, (customer_id, r) in enumerate(zip(batch.customer_ids, batch.briefs(), strict=True)):
        status = batch.statuses[i]
        rows.append(
            repository.ScoreRow(
                customer_id=customer_id,
                score=r.score,
                tier=r.tier,
                status=status,
                summary=r.summary,
            )
        )
        old_tier, old_status = previous.get(customer_id, (None, "lead"))
        if old_tier is not None and r.tier is not None and old_tier != r.tier:
            outcome.tier_changes += 1
            announcements.append(
                (
                    "health.tier_changed",
                    {
                        "customer_id": customer_id,
                        "old_tier": old_tier,
                        "new_tier": r.tier,
                        "score": r.score,
                        "summary": r.summary,
                        "top_factors": top_factors(batch.result(i)),
                    },
                )
            )
        if status == "cancelled" and old_status != "cancelled":
            outcome.churned.append(customer_id)
        elif old_status == "cancelled" and status in ("active", "paused"):
            outcome.reactivated.append(customer_id)
    await repository.save_scores(
        session,
        tenant_id,
        rows,
        model_version=batch.model_version,
        model_revision=MODEL_REVISION,
        computed_at=now,
    )
    announcements += await _status_announcements(session, tenant_id, outcome, now)
    if announcements:
        await enqueue_many(session, tenant_id, announcements, now=now)
    return outcome


async def _status_announcements(
    session: AsyncSession, tenant_id: uuid.UUID, outcome: RescoreOutcome, now: datetime
) -> list[tuple[str, dict[str, Any]]]:
    if not outcome.churned and not outcome.reactivated:
        return []
    rows = {
        row["customer_id"]: row
        for row in await customers.customer_rows(
            session, tenant_id, outcome.churned + outcome.reactivated
        )
    }
    out: list[tuple[str, dict[str, Any]]] = []
    for customer_id in outcome.churned:
        state = project(lifecycle_from_row(rows[customer_id]), now)
        out.append(
            (
                "customer.churned",
                {
                    "customer_id": customer_id,
                    "cancelled_at": state.cancelled_at,
                    "reason": state.cancel_reason,
                    "plan": state.plan,
                    "mrr_lost": state.plan_mrr,
                    "currency": state.currency,
                },
            )
        )
    for customer_id in outcome.reactivated:
        state = project(lifecycle_from_row(rows[customer_id]), now)
        out.append(
            (
                "customer.reactivated",
                {
                    "customer_id": customer_id,
                    "reactivated_at": state.reactivated_at,
                    "plan": state.plan,
                    "mrr": state.mrr,
                    "currency": state.currency,
                },
            )
        )
    return out
