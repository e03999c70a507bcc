"""Periodic rescoring: every customer of every tenant, in chunks, each chunk its own short
transaction. Keeps scores fresh as time passes without events (recency decays, scheduled
cancellations take effect), writes the daily snapshots, and announces what changed. The round
that runs it with the other periodic work is ``app.scheduler.periodic_round``."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from app.customers.repository import chunk_starts
from app.db import Database
from app.health import learning
from app.health.inputs import yardsticks
from app.health.repository import save_snapshots
from app.health.scoring import models_for, rescore, score_batch
from app.health.service import current_settings
from app.tenants.service import tenant_ids

logger = logging.getLogger("holdfast.health")

CHUNK = 1000
# Ranges rescored at once, each on its own connection.
WORKERS = 2


@dataclass
class TrainReport:
    tenants: int = 0
    trained: int = 0
    active: int = 0
    seconds: float = 0.0


async def train_all(
    database: Database, *, now: datetime | None = None, force: bool = False
) -> TrainReport:
    """Train every tenant whose last learned model is at least a day old (every tenant with
    ``force``), one transaction per tenant. The scheduler calls this after the rescore round;
    ``holdfast train`` and ``POST /v1/health/models`` run it on demand."""
    started = time.perf_counter()
    now = now or datetime.now(UTC)
    async with database.sessionmaker() as session:
        tenants = await tenant_ids(session)
    report = TrainReport(tenants=len(tenants))
    for tenant_id in tenants:
        async with database.sessionmaker() as session, session.begin():
            _, settings = await current_settings(session, tenant_id)
            if not settings.learning.enabled:
                continue
            if not force and not await learning.due(session, tenant_id, now):
                continue
            row = await learning.train_and_store(session, tenant_id, now, settings, now=now)
        report.trained += 1
        report.active += int(row.active)
    report.seconds = time.perf_counter() - started
    return report


@dataclass
class RescoreReport:
    tenants: int = 0
    customers: int = 0
    tier_changes: int = 0
    churned: int = 0
    reactivated: int = 0
    flows_abandoned: int = 0
    signals: int = 0
    seconds: float = 0.0


async def rescore_tenant(
    database: Database,
    tenant_id: uuid.UUID,
    *,
    now: datetime | None = None,
    chunk: int = CHUNK,
    workers: int = WORKERS,
    report: RescoreReport | None = None,
) -> RescoreReport:
    """Rescore the tenant's customers in id ranges of ``chunk``, each its own transaction,
    ``workers`` ranges at a time: while one waits for PostgreSQL another is scored in Python.
    Customers created during the walk fall into a range, or wait for the next round (their
    ingest marked them dirty, so the scorer takes them meanwhile)."""
    now = now or datetime.now(UTC)
    report = report or RescoreReport()
    async with database.sessionmaker() as session:
        ranges = await chunk_starts(session, tenant_id, chunk)
        # Read once for the walk: the models, and the yardsticks (cached per day).
        models = await models_for(session, tenant_id, now=now)
        await yardsticks(session, tenant_id, now)
    pending = iter(ranges)

    async def work() -> None:
        for ids in pending:  # one iterator shared by the workers: each range once
            async with database.sessionmaker() as session, session.begin():
                outcome = await rescore(session, tenant_id, ids, now=now, models=models)
            report.customers += outcome.scored
            report.tier_changes += outcome.tier_changes
            report.churned += len(outcome.churned)
            report.reactivated += len(outcome.reactivated)

    await asyncio.gather(*(work() for _ in range(max(1, workers))))
    return report


async def rescore_all(
    database: Database,
    *,
    now: datetime | None = None,
    chunk: int = CHUNK,
    tenants: list[uuid.UUID] | None = None,
) -> RescoreReport:
    """Rescore every customer of ``tenants`` (default: every tenant). The periodic round that
    also expires flows and scans signals is ``app.scheduler.periodic_round``."""
    started = time.perf_counter()
    if tenants is None:
        async with database.sessionmaker() as session:
            tenants = list(
                (await session.execute(text("SELECT id FROM tenants ORDER BY id"))).scalars()
            )
    report = RescoreReport(tenants=len(tenants))
    for tenant_id in tenants:
        await rescore_tenant(
            database, tenant_id, now=now or datetime.now(UTC), chunk=chunk, report=report
        )
    report.seconds = time.perf_counter() - started
    return report


async def backfill_snapshots(
    database: Database,
    tenant_id: uuid.UUID,
    *,
    days: int = 90,
    step_days: int = 7,
    now: datetime | None = None,
) -> int:
    """Write daily snapshots for past days (every ``step_days`` over the last ``days``), each
    scored as of the end of that day from the events that had occurred by then. For a tenant
    that loaded its history at once (a migration, the demo): the health history and the tier
    trend then start where the events do, not on the day they were loaded. Returns the number
    of snapshots written."""
    now = now or datetime.now(UTC)
    today = now.date()
    written = 0
    for back in range(days, 0, -step_days):
        day = today - timedelta(days=back)
        as_of = datetime.combine(day + timedelta(days=1), datetime.min.time(), UTC) - timedelta(
            microseconds=1
        )
        async with database.sessionmaker() as session, session.begin():
            batch = await score_batch(session, tenant_id, None, as_of=as_of, now=now)
            if batch is None:
                continue
            rows = [
                (cid, r.score, r.tier)
                for cid, r in zip(batch.customer_ids, batch.briefs(), strict=True)
            ]
            await save_snapshots(
                session, tenant_id, day, rows, model_version=batch.model_version, computed_at=now
            )
        written += len(rows)
    return written
