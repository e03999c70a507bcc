"""Rescoring throughput: every customer of a tenant, as the periodic job does it.

    python -m bench.rescore [--customers 100000] [--chunk 1000] [--database-url URL]

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
from app.tenants.service import create_tenant  # noqa: E402
from bench.scratch import scratch_database  # noqa: E402


async def load(url: str, settings: Settings, customers: int, seed: int) -> uuid.UUID:
    rnd = random.Random(seed)
    now = datetime.now(UTC)
    today = now.date()
    engine = make_engine(url, settings)
    async with session_factory(engine)() as session, session.begin():
        tenant, _ = await create_tenant(session, "bench")
        conn = await driver_connection(session)
        rows, usage, events = [], [], []
        for n in range(customers):
            cid = f"cus_{n:06d}"
            signup = now - timedelta(days=rnd.uniform(40, 700))
            last_usage = now - timedelta(days=rnd.expovariate(1 / 4))
            rows.append(
                (
                    tenant.id,
                    cid,
                    "active",
                    "pro",
                    4900,
                    4900,
                    "USD",
                    signup,
                    last_usage,
                    signup,
                    last_usage,
                    now - timedelta(days=rnd.uniform(0, 30)),
                    rnd.choice([None, 9, 7, 4]),
                )
            )
            fading = rnd.random() < 0.2
            for back in range(1, 36):
                if rnd.random() < (0.25 if fading and back < 10 else 0.6):
                    usage.append(
                        (tenant.id, cid, today - timedelta(days=back), rnd.randrange(1, 20), 1)
                    )
            for month in range(3):
                events.append(
                    (
                        tenant.id,
                        uuid7(),
                        f"p-{cid}-{month}",
                        "h",
                        cid,
                        "purchase",
                        now - timedelta(days=30 * month + rnd.uniform(0, 3)),
                        4900,
                        "USD",
                    )
                )
            if rnd.random() < 0.05:
                events.append(
                    (
                        tenant.id,
                        uuid7(),
                        f"f-{cid}",
                        "h",
                        cid,
                        "payment_failed",
                        now - timedelta(days=rnd.uniform(0, 20)),
                        4900,
                        "USD",
                    )
                )
        await conn.copy_records_to_table(
            "customers",
            records=rows,
            columns=[
                "tenant_id",
                "customer_id",
                "status",
                "plan",
                "mrr",
                "plan_mrr",
                "currency",
                "first_seen_at",
                "last_seen_at",
                "subscribed_at",
                "last_usage_at",
                "last_purchase_at",
                "nps_latest",
            ],
        )
        await conn.copy_records_to_table(
            "usage_daily",
            records=usage,
            columns=["tenant_id", "customer_id", "day", "quantity", "events"],
        )
        await conn.copy_records_to_table(
            "events",
            records=events,
            columns=[
                "tenant_id",
                "id",
                "idempotency_key",
                "content_hash",
                "customer_id",
                "type",
                "occurred_at",
                "amount",
                "currency",
            ],
        )
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


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--chunk", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
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


if __name__ == "__main__":
    asyncio.run(main())
