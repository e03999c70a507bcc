"""Background work of a server process: the periodic rescore round and the health scorer.

Both are optional per process (settings) and safe to run in every replica: the rescore round
works in short per-chunk transactions, and the scorer claims dirty customers with ``SKIP
LOCKED``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Histogram

from app.config import Settings
from app.db import Database, make_engine, session_factory
from app.health.freshness import drain_all
from app.health.jobs import CHUNK, RescoreReport, rescore_tenant, train_all
from app.offers.flows.service import expire_overdue_flows
from app.signals.jobs import scan_tenant
from app.tenants.service import tenant_ids

logger = logging.getLogger("holdfast.scheduler")


async def periodic_round(
    database: Database, *, now: datetime | None = None, chunk: int = CHUNK
) -> RescoreReport:
    """One round of the periodic work, tenant by tenant: drain the scores ingest left dirty,
    rescore every customer (recency decays without events; scheduled cancellations take effect;
    daily snapshots), abandon flows nobody decided within 24 h, scan lifecycle signals (which
    judge the scores just written, at the same instant)."""
    started = time.perf_counter()
    await drain_all(database)
    async with database.sessionmaker() as session:
        tenants = await tenant_ids(session)
    report = RescoreReport(tenants=len(tenants))
    for tenant_id in tenants:
        at = now or datetime.now(UTC)
        await rescore_tenant(database, tenant_id, now=at, chunk=chunk, report=report)
        async with database.sessionmaker() as session, session.begin():
            report.flows_abandoned += await expire_overdue_flows(session, tenant_id, now=at)
        report.signals += (await scan_tenant(database, tenant_id, now=at)).total
    report.seconds = time.perf_counter() - started
    return report


class _Loop:
    """Runs ``round`` every ``interval_s`` seconds in a background task; a failed round (a
    database outage) is logged and retried at the next tick, never kills the loop."""

    name = "holdfast-loop"

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def round(self) -> None:
        raise NotImplementedError

    async def _run(self) -> None:
        while True:
            try:
                await self.round()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("%s failed", self.name)
            await asyncio.sleep(self.interval_s)


class RescoreScheduler(_Loop):
    """:func:`periodic_round` every ``interval_s`` seconds."""

    name = "holdfast-rescore"

    def __init__(self, database: Database, interval_s: float) -> None:
        super().__init__(interval_s)
        self.database = database

    async def round(self) -> None:
        report = await periodic_round(self.database)
        # Learned health models are retrained once a day per tenant (train_all skips the
        # tenants whose model is younger), after the scores of the round are written.
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


class HealthScorer:
    """Drains dirty customers (:mod:`app.health.freshness`) every ``health_drain_interval_s``
    seconds and records how long each waited, from its mark to the commit of its score.

    Scoring is CPU work in Python: it runs in its own thread, with its own event loop and
    connection pool, so a drain never holds the request loop for its whole duration (the
    interpreter switches threads every few milliseconds).
    """

    def __init__(
        self, url: str, settings: Settings, registry: CollectorRegistry | None = None
    ) -> None:
        self.url = url
        self.settings = settings
        self.interval_s = settings.health_drain_interval_s
        self.lag = Histogram(
            "holdfast_health_freshness_lag_seconds",
            "From a customer's first unscored event being stored to its score being committed.",
            buckets=(0.1, 0.25, 0.5, 1, 1.5, 2, 3, 4, 5, 7.5, 10, 20, 60),
            registry=registry,
        )
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._run()), name="holdfast-health-scorer", daemon=True
        )
        self._thread.start()

    async def stop(self) -> None:
        if self._thread is not None:
            self._stopping.set()
            await asyncio.to_thread(self._thread.join, 30)
            self._thread = None

    async def _run(self) -> None:
        # Its own small pool (the connections plan every run for its parameters, like the
        # app's: see app.db.make_engine).
        engine = make_engine(self.url, self.settings, pool_size=2)
        database = Database(engine, session_factory(engine))
        failing = False
        try:
            while not self._stopping.is_set():
                try:
                    report = await drain_all(database)
                    for lag in report.lags:
                        self.lag.observe(lag)
                    if failing:
                        logger.info("health scorer recovered")
                        failing = False
                except Exception:
                    # A database outage must not kill the scorer: the next round retries. One
                    # line per outage, not one a second.
                    if not failing:
                        logger.exception("health scorer failed; retrying until it recovers")
                        failing = True
                await asyncio.to_thread(self._stopping.wait, self.interval_s)
        finally:
            await database.dispose()
