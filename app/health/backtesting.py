"""The backtest: score an instant T with the models a live score at T could have had, and
compare with what happened over the next horizon.

The learned model is the one trained on labels known by T (cutoffs at least a horizon before
T), trained and stored now if there is none: it never saw the outcomes it is judged on. The
examples at T are the training population (subscribers active or paused at T, and buyers
without a subscription when the tenant counts them), labelled the same way, with features from
events before T only.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import InvalidInput
from app.health import backtest, learned, learning, training
from app.health.features import build_features, design_matrix
from app.health.inputs import load_histories, yardsticks
from app.health.model import expert_scores, tier_for
from app.health.schemas import BacktestRead, CalibrationRow, ModelRead, TierOutcome
from app.health.service import current_settings


async def run_backtest(
    session: AsyncSession, tenant_id: uuid.UUID, as_of: datetime, horizon_days: int
) -> BacktestRead:
    now = datetime.now(UTC)
    if as_of + timedelta(days=horizon_days) > now:
        raise InvalidInput(
            "as_of + horizon_days must not be in the future: the outcome is not known yet.",
            errors=[
                {"loc": ["query", "as_of"], "msg": "horizon ends after now", "type": "value_error"}
            ],
        )
    version, stored = await current_settings(session, tenant_id)
    settings = stored.model_copy(
        update={"learning": stored.learning.model_copy(update={"horizon_days": horizon_days})}
    )
    row = None
    if settings.learning.enabled:
        row = await learning.latest(
            session, tenant_id, until=as_of, since=as_of - learning.MAX_AGE, horizon=horizon_days
        )
        if row is None:
            row = await learning.train_and_store(session, tenant_id, as_of, settings, now=now)
    picked = learning.chosen(row)
    history = await training.read_history(session, tenant_id, as_of + timedelta(days=horizon_days))
    rows, churned, _ = training.population(history, as_of, horizon_days, settings)
    lives = training.lifecycles(history, rows, as_of)
    by_id = {history.ids[i]: bool(c) for i, c in zip(rows.tolist(), churned, strict=True)}
    top = picked.model.top_features if picked.model is not None else ()
    if lives:
        marks = await yardsticks(session, tenant_id, as_of)
        h = await load_histories(
            session, tenant_id, as_of, lives, settings, features=top, marks=marks
        )
        features = build_features(h)
        y = np.asarray([by_id[cid] for cid in h.customer_ids], dtype=np.float64)
        expert = expert_scores(features, settings).score
    else:
        features = None
        y = np.zeros(0)
        expert = np.zeros(0)
    auc_expert = learned.auc(y, -np.nan_to_num(expert, nan=50.0)) if y.size else None
    auc_learned = None
    probability = None
    if picked.model is not None and features is not None:
        x = design_matrix(features, picked.model.features)
        probability = learned.churn_probability(picked.model, x)
        scores = learned.scores_of(picked.model, x)
        auc_learned = learned.auc(y, probability)
        tiers: list[str | None] = [
            "healthy"
            if s >= picked.model.healthy_min
            else "at_risk"
            if s >= picked.model.at_risk_min
            else "critical"
            for s in scores.tolist()
        ]
        active_auc = auc_learned
        info = ModelRead(
            kind="learned",
            version=row.version if row else 0,
            trained_at=row.trained_at if row else None,
            validation_auc=row.auc_learned if row else None,
            expert_auc=row.auc_expert if row else None,
            reason=picked.reason,
        )
    else:
        tiers = [None if np.isnan(s) else tier_for(float(s), settings) for s in expert.tolist()]
        active_auc = auc_expert
        info = ModelRead(
            kind="expert",
            version=version,
            trained_at=None,
            validation_auc=row.auc_learned if row else None,
            expert_auc=row.auc_expert if row else None,
            reason=picked.reason,
        )
    outcomes = [(t, bool(c)) for t, c in zip(tiers, y.tolist(), strict=True)]
    risk = probability if probability is not None else -np.nan_to_num(expert, nan=50.0)
    return BacktestRead(
        as_of=as_of,
        horizon_days=horizon_days,
        model_version=version,
        model=info,
        customers=int(y.size),
        churned=int(y.sum()),
        churn_rate=float(y.mean() * 100) if y.size else None,
        auc=active_auc,
        auc_expert=auc_expert,
        auc_learned=auc_learned,
        tiers=[
            TierOutcome(
                tier=r.tier, customers=r.customers, churned=r.churned, churn_rate=r.churn_rate
            )
            for r in backtest.by_tier(outcomes)
        ],
        calibration=_deciles(risk, probability, y),
    )


def _deciles(
    risk: np.ndarray, probability: np.ndarray | None, y: np.ndarray
) -> list[CalibrationRow]:
    """Customers in ten groups by predicted risk (lowest first): predicted churn (learned
    model only) next to observed churn, in percent."""
    if y.size == 0:
        return []
    order = np.argsort(risk, kind="stable")
    out = []
    for k, group in enumerate(np.array_split(order, 10), start=1):
        if group.size == 0:
            continue
        out.append(
            CalibrationRow(
                decile=k,
                customers=int(group.size),
                predicted_churn_rate=(
                    float(probability[group].mean() * 100) if probability is not None else None
                ),
                observed_churn_rate=float(y[group].mean() * 100),
            )
        )
    return out
