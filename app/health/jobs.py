"""Periodic rescoring: every customer of every tenant, in chunks, each chunk its own short
transaction. Keeps scores fresh as time passes without events (recency decays, scheduled
cancellations take effect), writes the daily snapshots, and announces what changed. After each
tenant's rescore, the same loop scans that tenant's lifecycle signals (app.signals)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from app.customers.repository import customer_ids_after
from app.db import Database
from app.health import learning
from app.health.repository import save_snapshots
from app.health.scoring import rescore, score_customers
from app.health.service import current_settings
from app.offers.flows.service import expire_overdue_flows
from app.signals.jobs import scan_tenant

logger = logging.getLogger("holdfast.health")

CHUNK = 1000


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
        tenants = list(
            (await session.execute(text("SELECT id FROM tenants ORDER BY id"))).scalars()
        )
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
    report: RescoreReport | None = None,
) -> RescoreReport:
    """Rescore the tenant's customers in id order, ``chunk`` at a time."""
    now = now or datetime.now(UTC)
    report = report or RescoreReport()
    after = ""
    while True:
        async with database.sessionmaker() as session, session.begin():
            ids = await customer_ids_after(session, tenant_id, after, chunk)
            if not ids:
                return report
            outcome = await rescore(session, tenant_id, ids, now=now)
        report.customers += outcome.scored
        report.tier_changes += outcome.tier_changes
        report.churned += len(outcome.churned)
        report.reactivated += len(outcome.reactivated)
        after = ids[-1]


async def rescore_all(
    database: Database, *, now: datetime | None = None, chunk: int = CHUNK
) -> RescoreReport:
    started = time.perf_counter()
    async with database.sessionmaker() as session:
        tenants = list(
            (await session.execute(text("SELECT id FROM tenants ORDER BY id"))).scalars()
        )
    report = RescoreReport(tenants=len(tenants))
    for tenant_id in tenants:
        # One clock for the whole round, so a tenant's signals judge the scores just written.
        at = now or datetime.now(UTC)
        await rescore_tenant(database, tenant_id, now=at, chunk=chunk, report=report)
        # Flows nobody decided within 24 h are abandoned by the clock alone: record it (and
        # announce it) here too, not only when someone next reads or starts a flow.
        async with database.sessionmaker() as session, session.begin():
            report.flows_abandoned += await expire_overdue_flows(session, tenant_id, now=at)
        report.signals += (await scan_tenant(database, tenant_id, now=at)).total
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
            scored = await score_customers(session, tenant_id, None, as_of=as_of, now=now)
            rows = [
                (cid, s.result.score, s.result.tier, s.model_version) for cid, s in scored.items()
            ]
            await save_snapshots(session, tenant_id, day, rows, now)
        written += len(rows)
    return written


class RescoreScheduler:
    """Runs :func:`rescore_all` every ``interval_s`` seconds in the background."""

    def __init__(self, database: Database, interval_s: float) -> None:
        self.database = database
        self.interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="holdfast-rescore")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                report = await rescore_all(self.database)
                trained = await train_all(self.database)
                logger.info(
                    "rescored",
                    extra={
                        "customers": report.customers,
                        "tier_changes": report.tier_changes,
                        "signals": report.signals,
                        "models_trained": trained.trained,
                        "seconds": round(report.seconds, 2),
                    },
                )
            except asyncio.CancelledError:
                raise
            except Exception:
                # A database outage must not kill the scheduler; the next round retries.
                logger.exception("rescore failed")
            await asyncio.sleep(self.interval_s)
