"""Learned models: training on demand or by the daily job, storage (versioned), and picking
the model that scores an instant.

A score at instant T may use only a model whose labels were all known by T
(``labels_until <= T``). "Now" uses the tenant's latest stored model; a past T uses the latest
model with ``labels_until`` in [T - MAX_AGE, T], and trains (and stores) one for T when there
is none: history loaded after the fact still gets learned scores as of past dates.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.health import training
from app.health.learned import LearnedModel
from app.health.settings import HealthSettings
from app.models import HealthModel

# A model older than this is not used for a past instant; one is trained for it instead.
MAX_AGE = timedelta(days=35)
# How often the periodic job retrains a tenant.
TRAIN_EVERY = timedelta(days=1)

_PARSED: dict[tuple[uuid.UUID, int], LearnedModel] = {}


@dataclass(frozen=True)
class Chosen:
    """The stored model row behind a score (None: no model stored) and, when it is active,
    its parameters."""

    row: HealthModel | None
    model: LearnedModel | None

    @property
    def reason(self) -> str:
        if self.row is None:
            return "expert model: no learned model trained yet"
        return self.row.reason


def parsed(row: HealthModel) -> LearnedModel:
    key = (row.tenant_id, row.version)
    found = _PARSED.get(key)
    if found is None:
        if len(_PARSED) > 256:
            _PARSED.clear()
        found = _PARSED[key] = LearnedModel.from_json(row.parameters)
    return found


async def latest(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    *,
    until: datetime,
    since: datetime | None = None,
    horizon: int | None = None,
) -> HealthModel | None:
    query = select(HealthModel).where(
        HealthModel.tenant_id == tenant_id, HealthModel.labels_until <= until
    )
    if horizon is not None:
        query = query.where(HealthModel.horizon_days == horizon)
    if since is not None:
        query = query.where(HealthModel.labels_until >= since)
    query = query.order_by(HealthModel.labels_until.desc(), HealthModel.version.desc()).limit(1)
    row: HealthModel | None = await session.scalar(query)
    return row


def chosen(row: HealthModel | None) -> Chosen:
    if row is None or not row.active:
        return Chosen(row, None)
    return Chosen(row, parsed(row))


async def for_instant(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    at: datetime,
    settings: HealthSettings,
    *,
    current: bool,
    now: datetime,
) -> Chosen:
    """The model that scores instant ``at`` (see the module docstring)."""
    if not settings.learning.enabled:
        return Chosen(None, None)
    horizon = settings.learning.horizon_days
    if current:
        return chosen(await latest(session, tenant_id, until=now, horizon=horizon))
    row = await latest(session, tenant_id, until=at, since=at - MAX_AGE, horizon=horizon)
    if row is None:
        row = await train_and_store(session, tenant_id, at, settings, now=now)
    return chosen(row)


async def train_and_store(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    labels_until: datetime,
    settings: HealthSettings,
    *,
    now: datetime | None = None,
) -> HealthModel:
    """Train on every label known by ``labels_until`` and store the result as the tenant's
    next model version (also when the expert model stays: the row says why)."""
    now = now or datetime.now(UTC)
    trained = await training.train(session, tenant_id, labels_until, settings)
    await session.execute(
        select(
            func.pg_advisory_xact_lock(
                func.hashtextextended(f"holdfast.health_models:{tenant_id}", 0)
            )
        )
    )
    version = (
        await session.scalar(
            select(func.coalesce(func.max(HealthModel.version), 0)).where(
                HealthModel.tenant_id == tenant_id
            )
        )
    ) or 0
    row = HealthModel(
        tenant_id=tenant_id,
        version=version + 1,
        kind="learned",
        trained_at=now,
        labels_until=labels_until,
        horizon_days=settings.learning.horizon_days,
        train_from=trained.train_from,
        train_to=trained.train_to,
        validation_from=trained.validation_from,
        validation_to=trained.validation_to,
        examples=trained.examples,
        positives=trained.positives,
        validation_examples=trained.validation_examples,
        validation_positives=trained.validation_positives,
        auc_learned=trained.auc_learned,
        auc_expert=trained.auc_expert,
        active=trained.active and trained.model is not None,
        reason=trained.reason,
        parameters=trained.model.to_json() if trained.model is not None else {},
    )
    session.add(row)
    await session.flush()
    return row


async def due(session: AsyncSession, tenant_id: uuid.UUID, now: datetime) -> bool:
    """Whether the periodic job should retrain the tenant (last training TRAIN_EVERY ago)."""
    last = await session.scalar(
        select(func.max(HealthModel.trained_at)).where(HealthModel.tenant_id == tenant_id)
    )
    return last is None or now - last >= TRAIN_EVERY
