"""Training speed: one tenant's learned model over a year of weekly cutoffs, beside reading the
history it is trained on once.

    python -m bench.training [--customers 100000] [--days 420] [--database-url URL]

Builds a scratch database with ``--customers`` subscribers spread over ``--days`` days of
history (COPYed straight into ``customers``, ``customer_status_changes``, ``usage_daily`` and
``events``): each subscribes on a random day, renews monthly (a purchase), uses the product on
some days, and about one in four cancels, using the product less in the weeks before. Then it
times :func:`app.health.learning.train_and_store` as ``holdfast train`` runs it: cutoffs every
7 days over the last 365 (52 or so), stayers sampled per cutoff, features from the shared
builder as of each cutoff, the fit, and the out-of-time check against the expert model.

The baseline is reading the inputs once: every status change, purchase and usage day of the
tenant (no features, no fit). Without ``--database-url`` (or DATABASE_URL) it uses an embedded
PostgreSQL in a temporary directory.
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
from app.health import learning  # noqa: E402
from app.health.service import current_settings  # noqa: E402
from app.ids import uuid7  # noqa: E402
from app.onboarding import create_tenant  # noqa: E402
from bench.rows import (  # noqa: E402
    CustomerRow,
    EventRecord,
    StatusChangeRow,
    UsageDayRow,
    copy_rows,
)
from bench.scratch import scratch_database  # noqa: E402

MRR = 4900


async def load(url: str, settings: Settings, customers: int, days: int, seed: int) -> uuid.UUID:
    rnd = random.Random(seed)
    now = datetime.now(UTC)
    today = now.date()
    engine = make_engine(url, settings)
    rows: list[CustomerRow] = []
    changes: list[StatusChangeRow] = []
    usage: list[UsageDayRow] = []
    events: list[EventRecord] = []
    async with session_factory(engine)() as session, session.begin():
        tenant, _ = await create_tenant(session, "bench")
        for n in range(customers):
            cid = f"cus_{n:06d}"
            start = now - timedelta(days=rnd.uniform(30, days))
            life = (now - start).days
            churn_day = rnd.randrange(20, life) if life > 20 and rnd.random() < 0.25 else None
            end = start + timedelta(days=churn_day) if churn_day is not None else None
            engagement = rnd.uniform(0.05, 0.4)
            last_usage = None
            for day in range(1, (churn_day if churn_day is not None else life)):
                # Churners fade over their last six weeks.
                fade = 0.35 if churn_day is not None and churn_day - day < 42 else 1.0
                if rnd.random() < engagement * fade:
                    last_usage = start + timedelta(days=day)
                    usage.append(
                        UsageDayRow(tenant.id, cid, last_usage.date(), rnd.randrange(1, 9))
                    )
            for month in range(0, (churn_day if churn_day is not None else life), 30):
                events.append(
                    EventRecord(
                        tenant.id,
                        uuid7(),
                        f"p-{cid}-{month}",
                        "h",
                        cid,
                        "purchase",
                        start + timedelta(days=month, hours=1),
                        amount=MRR,
                        currency="USD",
                    )
                )
            changes.append(
                StatusChangeRow(
                    tenant.id, cid, start, 0, "subscribed", "active", "lead", "pro", MRR, 0, "USD"
                )
            )
            if end is not None:
                events.append(
                    EventRecord(tenant.id, uuid7(), f"c-{cid}", "h", cid, "cancellation", end, end)
                )
                changes.append(
                    StatusChangeRow(
                        tenant.id,
                        cid,
                        end,
                        0,
                        "churned",
                        "cancelled",
                        "active",
                        "pro",
                        0,
                        MRR,
                        "USD",
                    )
                )
            rows.append(
                CustomerRow(
                    tenant.id,
                    cid,
                    "cancelled" if end else "active",
                    "pro",
                    0 if end else MRR,
                    MRR,
                    "USD",
                    first_seen_at=start,
                    last_seen_at=end or now,
                    subscribed_at=start,
                    cancelled_at=end,
                    last_usage_at=last_usage,
                )
            )
        conn = await driver_connection(session)
        for table in (rows, changes, usage, events):
            await copy_rows(conn, table)
    print(
        f"loaded {len(rows):,} customers ({sum(1 for r in rows if r.status == 'cancelled'):,} "
        f"cancelled), {len(usage):,} usage days, {len(events):,} events, "
        f"{len(changes):,} status changes; history from {today - timedelta(days=days)}"
    )
    async with engine.connect() as c:
        await c.execute(text("ANALYZE"))
    await engine.dispose()
    return tenant.id


async def baseline(url: str, settings: Settings, tenant_id: uuid.UUID) -> float:
    """The database reading every input of the training once (status changes, purchases,
    usage days), aggregated where it is stored: the physical limit, no Python per row."""
    engine = make_engine(url, settings)
    started = time.perf_counter()
    async with engine.connect() as conn:
        for sql in (
            "SELECT count(*), max(effective_at) FROM customer_status_changes WHERE tenant_id = :t",
            "SELECT count(*), max(occurred_at) FROM events WHERE tenant_id = :t"
            " AND type = 'purchase'",
            "SELECT count(*), sum(quantity) FROM usage_daily WHERE tenant_id = :t",
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
    parser.add_argument("--days", type=int, default=420, help="days of history")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    args = parser.parse_args()

    settings = Settings()
    async with scratch_database(args.database_url, settings) as url:
        tenant_id = await load(url, settings, args.customers, args.days, args.seed)
        base = await baseline(url, settings, tenant_id)
        database = Database.from_url(url, settings)
        try:
            now = datetime.now(UTC)
            started = time.perf_counter()
            async with database.sessionmaker() as session, session.begin():
                _, health = await current_settings(session, tenant_id)
                row = await learning.train_and_store(session, tenant_id, now, health, now=now)
            elapsed = time.perf_counter() - started
        finally:
            await database.dispose()
        print(f"baseline (read the inputs once): {base:8.2f} s")
        print(
            f"train_and_store:                 {elapsed:8.2f} s  ({elapsed / base:.1f}x baseline)"
        )
        print(
            f"model v{row.version}: {row.examples:,} examples ({row.positives:,} churners) over "
            f"{row.train_from:%Y-%m-%d}..{row.train_to:%Y-%m-%d}; validation "
            f"{row.validation_examples:,} ({row.validation_positives:,} churners); "
            f"out-of-time AUC learned {row.auc_learned or float('nan'):.3f} vs expert "
            f"{row.auc_expert or float('nan'):.3f}; active={row.active}"
        )
        print(row.reason)


if __name__ == "__main__":
    asyncio.run(main())
