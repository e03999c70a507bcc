"""A generated subscription history whose churn signal is known, written straight into the
tables the fold would fill (customers, status changes, usage rollups, usage events)."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from app.ids import uuid7

DAY = timedelta(days=1)


async def write_history(
    conn: AsyncConnection,
    tenant_id: uuid.UUID,
    *,
    now: datetime,
    customers: int = 400,
    days: int = 420,
    seed: int = 7,
    signal: bool = True,
) -> dict[str, bool]:
    """Subscribers who all use the product about as much in total; those who also use the
    "reports" feature (half of them) churn at 2% a month, the others at 20% (with ``signal``;
    without it everyone churns at 11%). Returns each customer's "reports" trait."""
    rnd = random.Random(seed)
    today = now.date()
    rows: list[tuple[Any, ...]] = []
    changes: list[tuple[Any, ...]] = []
    usage: list[tuple[Any, ...]] = []
    events: list[tuple[Any, ...]] = []
    traits = {}
    for n in range(customers):
        cid = f"cus_{n:04d}"
        reports = rnd.random() < 0.5
        traits[cid] = reports
        start = now - rnd.uniform(30, days) * DAY
        monthly = (0.02 if reports else 0.20) if signal else 0.11
        life = rnd.expovariate(-__import__("math").log(1 - monthly) / 30)
        end = start + life * DAY if start + life * DAY < now else None
        status = "cancelled" if end else "active"
        rows.append(
            (
                tenant_id,
                cid,
                status,
                "pro",
                4900 if not end else 0,
                4900,
                "USD",
                start,
                end or now,
                start,
                end,
            )
        )
        changes.append((tenant_id, cid, start, 0, "new", "active", "lead", "pro", 4900, 0, "USD"))
        if end:
            changes.append(
                (tenant_id, cid, end, 1, "churned", "cancelled", "active", "pro", 0, 4900, "USD")
            )
        day = start.date() + DAY
        last = (end or now).date()
        while day < last:
            if rnd.random() < 0.6:
                app_uses = 3 if reports else 4
                usage.append((tenant_id, cid, day, 4, 1 + int(reports)))
                moment = datetime.combine(day, datetime.min.time(), UTC) + 10 * timedelta(hours=1)
                events.append(
                    (
                        tenant_id,
                        uuid7(),
                        f"u-{cid}-{day}",
                        "h",
                        cid,
                        "usage",
                        moment,
                        app_uses,
                        "app",
                    )
                )
                if reports:
                    events.append(
                        (
                            tenant_id,
                            uuid7(),
                            f"r-{cid}-{day}",
                            "h",
                            cid,
                            "usage",
                            moment + timedelta(minutes=5),
                            1,
                            "reports",
                        )
                    )
            day += DAY
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    await driver.copy_records_to_table(
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
            "cancelled_at",
        ],
    )
    await driver.copy_records_to_table(
        "customer_status_changes",
        records=changes,
        columns=[
            "tenant_id",
            "customer_id",
            "effective_at",
            "seq",
            "kind",
            "status",
            "previous_status",
            "plan",
            "mrr",
            "previous_mrr",
            "currency",
        ],
    )
    await driver.copy_records_to_table(
        "usage_daily",
        records=usage,
        columns=["tenant_id", "customer_id", "day", "quantity", "events"],
    )
    await driver.copy_records_to_table(
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
            "quantity",
            "feature",
        ],
    )
    del today
    return traits
