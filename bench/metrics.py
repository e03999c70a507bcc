"""Benchmark: churn series and cohort matrix over 100k customers x 24 months of status changes.

    .venv/bin/python bench/metrics.py [--customers 100000] [--months 24] [--repeat 5] [--keep]

Connects to DATABASE_URL (else postgresql://postgres@127.0.0.1:5432/postgres) as an admin
connection, creates a scratch database, migrates it, COPYs a generated history straight into
``customer_status_changes`` (plus a smaller second tenant, so the queries must filter), then times
the query functions the endpoints use (``app.metrics.queries``), best and median of ``--repeat``
runs after a warm-up. The baseline is the cheapest thing any correct method must do: read every
change of the tenant once, in customer order. The goal is under 1 s for each query.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.config import Settings
from app.db import make_engine
from app.metrics import queries
from bench.rows import StatusChangeRow, copy_rows
from bench.scratch import scratch_database

PLANS = {"basic": 2_900, "pro": 9_900, "business": 29_900}
CURRENCIES = [("USD", 0.85), ("EUR", 0.10), ("GBP", 0.05)]
REASONS = ["too_expensive", "missing_features", "switched_service", "unused", None]
Row = tuple[Any, ...]


def month_start(origin: datetime, months: int) -> datetime:
    index = origin.year * 12 + origin.month - 1 + months
    return origin.replace(year=index // 12, month=index % 12 + 1)


def customer_history(
    rng: random.Random, tenant_id: uuid.UUID, customer_id: str, origin: datetime, months: int
) -> Iterator[Row]:
    """One customer's changes: a monthly Markov walk (churn ~4%/month, pauses, plan changes,
    win-backs), at random instants inside each month; a few cancellations are scheduled past the
    end of the window (future-dated rows the metrics must ignore)."""
    # more signups in later months: a growing business
    signup_month = min(months - 1, int(months * rng.random() ** 0.8))
    currency = rng.choices([c for c, _ in CURRENCIES], [w for _, w in CURRENCIES])[0]
    status, mrr, plan = "lead", 0, rng.choice(list(PLANS))
    paused_for = 0
    for month in range(signup_month, months):
        at = month_start(origin, month) + timedelta(seconds=rng.randrange(28 * 86_400))
        roll = rng.random()
        change: tuple[str, str, int, str | None] | None = None  # kind, status, mrr, reason
        if status == "lead":
            change = ("new", "active", PLANS[plan], None)
        elif status == "cancelled":
            if roll < 0.02:
                plan = rng.choice(list(PLANS))
                change = ("reactivated", "active", PLANS[plan], None)
        elif status == "paused":
            paused_for += 1
            if paused_for >= 2 and roll < 0.5:
                change = ("resumed", "active", PLANS[plan], None)
            elif roll > 0.9:
                change = ("churned", "cancelled", 0, rng.choice(REASONS))
        elif roll < 0.04:
            change = ("churned", "cancelled", 0, rng.choice(REASONS))
        elif roll < 0.055:
            change, paused_for = ("paused", "paused", 0, None), 0
        elif roll < 0.085:
            plan = rng.choice([p for p in PLANS if p != plan])
            change = ("plan_changed", "active", PLANS[plan], None)
        elif roll < 0.095:
            change = ("mrr_changed", "active", int(PLANS[plan] * rng.choice([0.8, 1.2])), None)
        if change is None:
            continue
        kind, new_status, new_mrr, reason = change
        yield (
            tenant_id,
            customer_id,
            at,
            0,
            kind,
            new_status,
            status,
            plan,
            new_mrr,
            mrr,
            currency,
            reason,
        )
        status, mrr = new_status, new_mrr
    if status == "active" and rng.random() < 0.01:
        at = month_start(origin, months) + timedelta(days=rng.randrange(1, 60))
        yield (
            tenant_id,
            customer_id,
            at,
            0,
            "churned",
            "cancelled",
            "active",
            plan,
            0,
            mrr,
            currency,
            "too_expensive",
        )


def generate(
    tenant_id: uuid.UUID, customers: int, origin: datetime, months: int, seed: int
) -> list[Row]:
    rng = random.Random(seed)
    rows: list[Row] = []
    for i in range(customers):
        rows.extend(customer_history(rng, tenant_id, f"cus_{i:07d}", origin, months))
    return rows


async def load(url: str, tenants: list[tuple[uuid.UUID, list[Row]]]) -> None:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        for tenant_id, rows in tenants:
            await conn.execute(
                "INSERT INTO tenants (id, name) VALUES ($1, $2)", tenant_id, str(tenant_id)
            )
            await copy_rows(conn, [StatusChangeRow(*row) for row in rows])
        await conn.execute("ANALYZE customer_status_changes")
    finally:
        await conn.close()


async def timed(
    engine: AsyncEngine, repeat: int, call: Callable[[AsyncSession], Awaitable[Any]]
) -> tuple[list[float], Any]:
    times: list[float] = []
    result: Any = None
    for attempt in range(repeat + 1):
        async with AsyncSession(engine) as session, session.begin():
            began = time.perf_counter()
            result = await call(session)
            elapsed = time.perf_counter() - began
        if attempt:  # the first run warms caches
            times.append(elapsed)
    return times, result


def describe(name: str, times: list[float], baseline: float) -> str:
    best, median = min(times), statistics.median(times)
    return (
        f"{name:<34} best {best * 1000:7.1f} ms  median {median * 1000:7.1f} ms"
        f"  ({median / baseline:5.1f}x baseline)"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()

    settings = Settings(database_url=None, db_statement_timeout_ms=600_000)
    server = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    async with scratch_database(server, settings, keep=args.keep) as url:
        engine = make_engine(url, settings)
        try:
            origin = datetime(2024, 1, 1, tzinfo=UTC)
            end = month_start(origin, args.months)
            tenant_id, noise_id = uuid.uuid4(), uuid.uuid4()
            began = time.perf_counter()
            rows = generate(tenant_id, args.customers, origin, args.months, args.seed)
            noise = generate(noise_id, args.customers // 5, origin, args.months, args.seed + 1)
            generated = time.perf_counter() - began
            began = time.perf_counter()
            await load(url, [(tenant_id, rows), (noise_id, noise)])
            loaded = time.perf_counter() - began
            print(
                f"database {make_url(url).database}:"
                f" {args.customers} customers, {len(rows)} status changes over "
                f"{args.months} months (+ {len(noise)} rows of another tenant); "
                f"generated in {generated:.1f} s, COPY + ANALYZE in {loaded:.1f} s"
            )

            as_of = end  # the scheduled cancellations after the window stay in the future

            async def baseline(session: AsyncSession) -> Any:
                return await session.scalar(
                    text(
                        "SELECT count(DISTINCT customer_id) FROM customer_status_changes"
                        " WHERE tenant_id = :t AND effective_at <= :as_of"
                    ),
                    {"t": tenant_id, "as_of": as_of},
                )

            async def monthly(session: AsyncSession) -> Any:
                return await queries.churn_series(
                    session, tenant_id, start=origin, end=end, granularity="month", as_of=as_of
                )

            async def weekly(session: AsyncSession) -> Any:
                return await queries.churn_series(
                    session, tenant_id, start=origin, end=end, granularity="week", as_of=as_of
                )

            async def by_plan(session: AsyncSession) -> Any:
                return await queries.churn_series(
                    session,
                    tenant_id,
                    start=origin,
                    end=end,
                    granularity="month",
                    as_of=as_of,
                    plan="pro",
                )

            async def cohorts(session: AsyncSession) -> Any:
                return await queries.cohort_matrix(
                    session, tenant_id, start=origin, end=end, granularity="month", as_of=as_of
                )

            async def cancellations(session: AsyncSession) -> Any:
                return await queries.cancellation_report(
                    session, tenant_id, start=origin, end=end, as_of=as_of
                )

            async def current(session: AsyncSession) -> Any:
                return await queries.current_state(session, tenant_id, as_of=as_of)

            base_times, _ = await timed(engine, args.repeat, baseline)
            base = statistics.median(base_times)
            print(describe("baseline: read the tenant's rows", base_times, base))
            results: dict[str, Any] = {}
            for label, call in [
                ("monthly churn series (24 periods)", monthly),
                ("weekly churn series", weekly),
                ("monthly churn series, plan=pro", by_plan),
                ("monthly cohort matrix", cohorts),
                ("cancellations by reason", cancellations),
                ("current state (summary)", current),
            ]:
                times, results[label] = await timed(engine, args.repeat, call)
                print(describe(label, times, base))

            series = results["monthly churn series (24 periods)"]
            last = series.periods[-1]
            print(
                f"sanity: currency {series.currency} (others {series.other_currencies});"
                f" last month "
                f"{last.customers_at_start} at start, {last.churned} churned "
                f"({last.churn_rate:.2f}%), NRR {last.net_revenue_retention:.1f}%; "
                f"{len(results['monthly cohort matrix'].cohorts)} cohorts"
            )
        finally:
            await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
