"""Rescoring throughput: every customer of a tenant, as the periodic job does it.

    python -m bench.rescore [--customers 100000] [--chunk 1000] [--gets 500] [--database-url URL]

Builds a scratch database with ``--customers`` subscribers (COPYed straight into ``customers``,
``usage_daily`` with about 20 active days in the last five weeks each, and ``events`` with three
monthly purchases and the odd failed payment), then times :func:`app.health.jobs.rescore_all`:
chunks of ``--chunk`` customers, each chunk one transaction that locks the rows, reads the
model's inputs in four set-based statements, scores in Python, and upserts the scores and the
day's snapshot. The baseline is reading the same inputs once (no scoring, no writes).

Without ``--database-url`` (or DATABASE_URL) it uses an embedded PostgreSQL in a temporary
directory.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.config import Settings  # noqa: E402
from app.db import Database, driver_connection, make_engine, session_factory  # noqa: E402
from app.health.jobs import rescore_all  # noqa: E402
from app.ids import uuid7  # noqa: E402
from app.onboarding import create_tenant  # noqa: E402
from bench.rows import CustomerRow, EventRecord, UsageDayRow, copy_rows  # noqa: E402
from bench.scratch import scratch_database  # noqa: E402


async def load(url: str, settings: Settings, customers: int, seed: int) -> uuid.UUID:
    rnd = random.Random(seed)
    now = datetime.now(UTC)
    today = now.date()
    engine = make_engine(url, settings)
    async with session_factory(engine)() as session, session.begin():
        tenant, _ = await create_tenant(session, "bench")
        conn = await driver_connection(session)
        rows: list[CustomerRow] = []
        usage: list[UsageDayRow] = []
        events: list[EventRecord] = []
        for n in range(customers):
            cid = f"cus_{n:06d}"
            signup = now - timedelta(days=rnd.uniform(40, 700))
            last_usage = now - timedelta(days=rnd.expovariate(1 / 4))
            rows.append(
                CustomerRow(
                    tenant.id,
                    cid,
                    "active",
                    "pro",
                    4900,
                    4900,
                    "USD",
                    first_seen_at=signup,
                    last_seen_at=last_usage,
                    subscribed_at=signup,
                    last_usage_at=last_usage,
                    last_purchase_at=now - timedelta(days=rnd.uniform(0, 30)),
                    nps_latest=rnd.choice([None, 9, 7, 4]),
                )
            )
            fading = rnd.random() < 0.2
            for back in range(1, 36):
                if rnd.random() < (0.25 if fading and back < 10 else 0.6):
                    usage.append(
                        UsageDayRow(
                            tenant.id, cid, today - timedelta(days=back), rnd.randrange(1, 20)
                        )
                    )
            for month in range(3):
                events.append(
                    EventRecord(
                        tenant.id,
                        uuid7(),
                        f"p-{cid}-{month}",
                        "h",
                        cid,
                        "purchase",
                        now - timedelta(days=30 * month + rnd.uniform(0, 3)),
                        amount=4900,
                        currency="USD",
                    )
                )
            if rnd.random() < 0.05:
                events.append(
                    EventRecord(
                        tenant.id,
                        uuid7(),
                        f"f-{cid}",
                        "h",
                        cid,
                        "payment_failed",
                        now - timedelta(days=rnd.uniform(0, 20)),
                        amount=4900,
                        currency="USD",
                    )
                )
        for table in (rows, usage, events):
            await copy_rows(conn, table)
        print(f"loaded {len(rows)} customers, {len(usage)} usage days, {len(events)} events")
    async with engine.connect() as conn:
        await conn.execute(text("ANALYZE"))
    await engine.dispose()
    return tenant.id


async def baseline(url: str, settings: Settings, tenant_id: uuid.UUID) -> float:
    engine = make_engine(url, settings)
    started = time.perf_counter()
    async with engine.connect() as conn:
        for sql in (
            "SELECT count(*) FROM customers WHERE tenant_id = :t",
            "SELECT count(*), sum(quantity) FROM usage_daily WHERE tenant_id = :t"
            " AND day >= current_date - 36",
            "SELECT count(*) FROM events WHERE tenant_id = :t"
            " AND type IN ('purchase', 'payment_failed')",
        ):
            await conn.execute(text(sql), {"t": tenant_id})
    elapsed = time.perf_counter() - started
    await engine.dispose()
    return elapsed


async def get_latency(
    url: str, settings: Settings, tenant_id: uuid.UUID, customers: int, samples: int
) -> None:
    """p50/p99 of GET /v1/customers/{id}/health through the ASGI app, one customer at a time,
    beside the same customer's inputs read once (the rescore's statements for one id)."""
    import httpx

    from app.db import session_factory
    from app.main import create_app
    from app.tenants.service import create_api_key

    database = Database.from_url(url, settings)
    app = create_app(settings, database)
    rnd = random.Random(5)
    async with session_factory(database.engine)() as session, session.begin():
        key = await create_api_key(session, tenant_id, name="bench", scopes=["read"])
    headers = {"Authorization": f"Bearer {key.plaintext}"}
    timings = []
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://holdfast"
    ) as client:
        for k in range(samples + 20):
            cid = f"cus_{rnd.randrange(customers):06d}"
            started = time.perf_counter()
            response = await client.get(f"/v1/customers/{cid}/health", headers=headers)
            elapsed = time.perf_counter() - started
            assert response.status_code == 200, response.text
            if k >= 20:  # warm-up: connections, prepared statements, the tenant's yardsticks
                timings.append(elapsed)
    await database.dispose()
    timings.sort()
    p50 = timings[len(timings) // 2] * 1000
    p99 = timings[min(len(timings) - 1, int(len(timings) * 0.99))] * 1000
    print(f"GET one customer's health, {samples} requests: p50 {p50:.1f} ms, p99 {p99:.1f} ms")


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--chunk", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--gets", type=int, default=500, help="GET health samples")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    args = parser.parse_args()

    settings = Settings()
    async with scratch_database(args.database_url, settings) as url:
        tenant_id = await load(url, settings, args.customers, args.seed)
        base = await baseline(url, settings, tenant_id)
        database = Database.from_url(url, settings)
        try:
            report = await rescore_all(database, chunk=args.chunk)
        finally:
            await database.dispose()
        print(f"baseline (read the inputs once): {base:8.2f} s")
        print(
            f"rescore_all, chunks of {args.chunk}: {report.seconds:8.2f} s  "
            f"({report.customers / report.seconds:,.0f} customers/s, "
            f"{report.seconds / base:.1f}x baseline)"
        )
        print(f"tier changes announced: {report.tier_changes} (first scoring: none expected)")
        await get_latency(url, settings, tenant_id, args.customers, args.gets)


if __name__ == "__main__":
    asyncio.run(main())
