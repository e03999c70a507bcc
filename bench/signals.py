"""Benchmark: purchase rhythms, value metrics and the lifecycle-signal scan over 100k customers.

    .venv/bin/python bench/signals.py [--customers 100000] [--repeat 5] [--keep]

Connects to DATABASE_URL (else postgresql://postgres@127.0.0.1:5432/postgres), creates a
scratch database, migrates it and generates with SQL: per customer 1-13 purchases at a
customer-specific pace (10% in EUR), 5 usage events, the customer row (a third of them
subscribers, with a status change and a health score), and a second tenant a fifth the size.
Times the functions the endpoints and the periodic job call, best and median of ``--repeat``
runs after a warm-up; the signal scan runs in a transaction rolled back each time (so every run
finds the same candidates). The baseline reads every purchase of the tenant once.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.config import Settings
from app.customers import repository as customers
from app.customers import service as customer_service
from app.db import make_engine
from app.metrics import value_queries
from app.signals.service import scan_signals
from bench.metrics import describe, timed
from bench.scratch import scratch_database

ORIGIN = datetime(2025, 1, 1, tzinfo=UTC)

_GENERATE = """
INSERT INTO tenants (id, name) VALUES (:t, 'bench');
INSERT INTO events (tenant_id, id, idempotency_key, content_hash, customer_id, type,
                    occurred_at, amount, currency)
SELECT :t, gen_random_uuid(), 'p' || c || '-' || i, '-', 'c' || c, 'purchase',
       CAST(:origin AS timestamptz) + (c % 200) * interval '1 day'
               + i * (7 + c % 60) * interval '1 day'
               + (random() * 30000) * interval '1 second',
       1000 + (c % 5) * 500, CASE WHEN c % 10 = 0 THEN 'EUR' ELSE 'USD' END
FROM generate_series(1, :n) AS c
CROSS JOIN LATERAL generate_series(0, c % 13) AS i;
INSERT INTO events (tenant_id, id, idempotency_key, content_hash, customer_id, type,
                    occurred_at, quantity)
SELECT :t, gen_random_uuid(), 'u' || c || '-' || i, '-', 'c' || c, 'usage',
       CAST(:origin AS timestamptz) + (c % 300) * interval '1 day' + i * interval '3 days', 1
FROM generate_series(1, :n) AS c CROSS JOIN generate_series(0, 4) AS i;
INSERT INTO customers (tenant_id, customer_id, status, first_seen_at, last_seen_at,
                       last_usage_at, last_purchase_at, subscribed_at, mrr, plan_mrr, currency)
SELECT :t, e.customer_id, CASE WHEN c % 3 = 0 THEN 'active' ELSE 'lead' END,
       min(e.occurred_at), max(e.occurred_at),
       max(e.occurred_at) FILTER (WHERE e.type = 'usage'),
       max(e.occurred_at) FILTER (WHERE e.type = 'purchase'),
       CASE WHEN c % 3 = 0 THEN min(e.occurred_at) END,
       CASE WHEN c % 3 = 0 THEN 4900 ELSE 0 END, CASE WHEN c % 3 = 0 THEN 4900 ELSE 0 END,
       'USD'
FROM events e CROSS JOIN LATERAL (SELECT substr(e.customer_id, 2)::int AS c) AS n
WHERE e.tenant_id = :t
GROUP BY e.customer_id, c;
INSERT INTO customer_status_changes (tenant_id, customer_id, effective_at, seq, kind, status,
                                     previous_status, plan, mrr, previous_mrr, currency)
SELECT :t, customer_id, subscribed_at, 0, 'new', 'active', 'lead', 'pro', 4900, 0, 'USD'
FROM customers WHERE tenant_id = :t AND subscribed_at IS NOT NULL;
INSERT INTO health_scores (tenant_id, customer_id, score, tier, status, summary, factors,
                           missing, model_version, model_revision, computed_at)
SELECT :t, customer_id, 80, CASE WHEN random() < 0.6 THEN 'healthy' ELSE 'at_risk' END, status,
       '', '[]', '[]', 0, 1, now()
FROM customers WHERE tenant_id = :t
"""


async def generate(engine: AsyncEngine, tenant_id: uuid.UUID, n: int) -> None:
    async with engine.begin() as conn:
        for statement in _GENERATE.split(";"):
            await conn.execute(text(statement), {"t": tenant_id, "n": n, "origin": ORIGIN})


async def timed_rolled_back(
    engine: AsyncEngine, repeat: int, call: Callable[[AsyncSession], Awaitable[Any]]
) -> tuple[list[float], Any]:
    times: list[float] = []
    result: Any = None
    for attempt in range(repeat + 1):
        async with AsyncSession(engine) as session:
            transaction = await session.begin()
            began = time.perf_counter()
            result = await call(session)
            elapsed = time.perf_counter() - began
            await transaction.rollback()
        if attempt:
            times.append(elapsed)
    return times, result


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()

    settings = Settings(database_url=None, db_statement_timeout_ms=600_000)
    server = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    async with scratch_database(server, settings, keep=args.keep) as url:
        engine = make_engine(url, settings)
        try:
            tenant_id, noise_id = uuid.uuid4(), uuid.uuid4()
            began = time.perf_counter()
            await generate(engine, tenant_id, args.customers)
            await generate(engine, noise_id, args.customers // 5)
            async with engine.begin() as conn:
                await conn.execute(text("ANALYZE"))
            async with engine.connect() as conn:
                purchases = await conn.scalar(
                    text("SELECT count(*) FROM events WHERE tenant_id = :t AND type = 'purchase'"),
                    {"t": tenant_id},
                )
            print(
                f"database {make_url(url).database}:"
                f" {args.customers} customers, {purchases} purchases (+ 5 usage "
                f"events each, + a tenant a fifth the size); generated in "
                f"{time.perf_counter() - began:.1f} s"
            )
            year = (ORIGIN, ORIGIN + timedelta(days=365))
            as_of = ORIGIN + timedelta(days=800)

            async def baseline(session: AsyncSession) -> Any:
                return await session.scalar(
                    text(
                        "SELECT count(DISTINCT customer_id) FROM events"
                        " WHERE tenant_id = :t AND type = 'purchase'"
                    ),
                    {"t": tenant_id},
                )

            async def one_customer(session: AsyncSession) -> Any:
                return await customers.purchase_facts(session, tenant_id, "c12")

            async def tenant_median(session: AsyncSession) -> Any:
                return await customers.tenant_median_interval(session, tenant_id)

            async def refresh(session: AsyncSession) -> Any:
                return await customer_service.refresh_tenant_rhythm(session, tenant_id, as_of)

            async def one_time_buyer(session: AsyncSession) -> Any:
                view = await customer_service.get_customer(session, tenant_id, "c13")
                return view.purchases

            async def repeat(session: AsyncSession) -> Any:
                return await value_queries.repeat_purchases(
                    session, tenant_id, start=year[0], end=year[1], as_of=as_of
                )

            async def cohorts(session: AsyncSession) -> Any:
                return await value_queries.cohort_revenue(
                    session, tenant_id, start=year[0], end=year[1], as_of=as_of
                )

            async def ltv(session: AsyncSession) -> Any:
                return await value_queries.ltv(
                    session, tenant_id, start=year[0], end=year[1], as_of=as_of
                )

            def scan_at(now: datetime) -> Callable[[AsyncSession], Awaitable[Any]]:
                async def scan(session: AsyncSession) -> Any:
                    return await scan_signals(session, tenant_id, now=now)

                return scan

            base_times, _ = await timed(engine, args.repeat, baseline)
            base = statistics.median(base_times)
            print(describe("baseline: read the purchases", base_times, base))
            results: dict[str, Any] = {}
            for label, call in [
                ("customer rhythm, repeat buyer", one_customer),
                ("tenant median interval (live)", tenant_median),
                ("store it (periodic job)", refresh),
                ("GET customer, one-time buyer", one_time_buyer),
                ("repeat purchases, one year", repeat),
                ("cohort revenue, 12 cohorts", cohorts),
                ("ltv (monthly churn series)", ltv),
            ]:
                times, results[label] = await timed(engine, args.repeat, call)
                print(describe(label, times, base))
            for label, now in [
                ("signal scan, day 200", ORIGIN + timedelta(days=200)),
                ("signal scan, day 400", ORIGIN + timedelta(days=400)),
            ]:
                times, results[label] = await timed_rolled_back(engine, args.repeat, scan_at(now))
                print(describe(label, times, base))
            r = results["repeat purchases, one year"]
            print(
                f"sanity: {r.buyers} buyers, repeat rate {r.repeat_purchase_rate:.1f}%, median "
                f"{r.median_interval_days} days; tenant median "
                f"{results['tenant median interval (live)']} days; scans announced "
                f"{results['signal scan, day 200']} / {results['signal scan, day 400']}"
            )
        finally:
            await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
