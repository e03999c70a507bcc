"""Health scores materialised off the request path, with a freshness promise.

Ingest stores events and marks their customers dirty in the same transaction
(``app.customers.dirty``); it does not score them. Scorers drain the marks in batches: the
in-process background worker (``app.scheduler``) within a second or so, the periodic job, and
any number of replicas at once (each claims marks with ``SKIP LOCKED``, so no customer is
scored twice for one mark and none is lost). Reads that promise read-your-writes (a
customer's health, the bulk lookup) score the dirty customers they ask for first
(:func:`score_if_dirty`).

Every score is written by ``app.health.scoring.rescore`` under the customer's row lock, which
compares with the stored tier: a tier change is announced by exactly one scorer.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.customers import dirty
from app.db import Database
from app.health.scoring import Models, models_for, rescore

# Customers per scoring transaction: their rows stay locked while they are scored (a few
# ms for 100), and an ingest for one of them waits that long.
DRAIN_BATCH = 100


@dataclass
class DrainReport:
    scored: int = 0
    tier_changes: int = 0
    # When each drained mark was made: the lag of a score is its commit time minus this.
    marked_at: list[datetime] = field(default_factory=list)
    # Seconds from each mark to the commit of its score (drains in their own transactions).
    lags: list[float] = field(default_factory=list)

    def add(self, other: DrainReport) -> None:
        self.scored += other.scored
        self.tier_changes += other.tier_changes
        self.marked_at += other.marked_at
        self.lags += other.lags


async def _score(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    ids: list[str],
    report: DrainReport,
    models: Models | None = None,
) -> None:
    # The claim locked the customers: no ingest is writing them, and none can until commit.
    outcome = await rescore(session, tenant_id, ids, now=datetime.now(UTC), models=models)
    report.marked_at += await dirty.clear(session, tenant_id, ids)
    report.scored += len(ids)
    report.tier_changes += outcome.tier_changes


async def score_if_dirty(
    session: AsyncSession, tenant_id: uuid.UUID, customer_ids: Sequence[str]
) -> DrainReport:
    """Materialise the scores of those of ``customer_ids`` that are dirty, in the caller's
    transaction (read-your-writes for the health reads)."""
    report = DrainReport()
    ids = await dirty.claim_these(session, tenant_id, customer_ids)
    if ids:
        await _score(session, tenant_id, ids, report)
    return report


async def drain_batch(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    *,
    limit: int = DRAIN_BATCH,
    models: Models | None = None,
) -> DrainReport:
    """Score up to ``limit`` dirty customers of the tenant that no other scorer holds (with
    ``models``, read once by the caller for a whole drain)."""
    report = DrainReport()
    ids = await dirty.claim(session, tenant_id, limit)
    if ids:
        await _score(session, tenant_id, ids, report, models)
    return report


async def drain_tenant(
    database: Database, tenant_id: uuid.UUID, *, limit: int = DRAIN_BATCH
) -> DrainReport:
    """Drain the tenant's marks, one short transaction per batch, until none is left that no
    other scorer holds."""
    total = DrainReport()
    models = None
    while True:
        async with database.sessionmaker() as session, session.begin():
            if models is None:  # once per drain: the tenant's settings and model
                models = await models_for(session, tenant_id)
            report = await drain_batch(session, tenant_id, limit=limit, models=models)
        committed = datetime.now(UTC)
        report.lags = [(committed - marked).total_seconds() for marked in report.marked_at]
        total.add(report)
        if report.scored < limit:
            return total


async def drain_all(database: Database, *, limit: int = DRAIN_BATCH) -> DrainReport:
    """Drain every tenant's marks."""
    async with database.sessionmaker() as session, session.begin():
        tenants = await dirty.tenants_with_marks(session)
    total = DrainReport()
    for tenant_id in tenants:
        total.add(await drain_tenant(database, tenant_id, limit=limit))
    return total
