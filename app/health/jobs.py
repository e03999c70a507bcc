"""Periodic rescoring: every customer of every tenant, in chunks, each chunk its own short
transaction. Keeps scores fresh as time passes without events (recency decays, scheduled
cancellations take effect), writes the daily snapshots, and announces what changed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import text

from app.db import Database
from app.health.scoring import rescore

logger = logging.getLogger("holdfast.health")

CHUNK = 1000


@dataclass
class RescoreReport:
    tenants: int = 0
    customers: int = 0
    tier_changes: int = 0
    churned: int = 0
    reactivated: int = 0
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
            ids = list(
                (
                    await session.execute(
                        text(
                            "SELECT customer_id FROM customers WHERE tenant_id = :t"
                            " AND customer_id > :after ORDER BY customer_id LIMIT :n"
                        ),
                        {"t": tenant_id, "after": after, "n": chunk},
                    )
                ).scalars()
            )
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
        await rescore_tenant(database, tenant_id, now=now, chunk=chunk, report=report)
    report.seconds = time.perf_counter() - started
    return report


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
                logger.info(
                    "rescored",
                    extra={
                        "customers": report.customers,
                        "tier_changes": report.tier_changes,
                        "seconds": round(report.seconds, 2),
                    },
                )
            except asyncio.CancelledError:
                raise
            except Exception:
                # A database outage must not kill the scheduler; the next round retries.
                logger.exception("rescore failed")
            await asyncio.sleep(self.interval_s)
