"""A generated subscription history whose churn signal is known, written straight into the
tables the fold would fill (customers, status changes, usage rollups, usage events)."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from app.ids import uuid7
from bench.rows import CustomerRow, EventRecord, StatusChangeRow, UsageDayRow, copy_rows

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
    rows: list[CustomerRow] = []
    changes: list[StatusChangeRow] = []
    usage: list[UsageDayRow] = []
    events: list[EventRecord] = []
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
            CustomerRow(
                tenant_id,
                cid,
                status,
                "pro",
                4900 if not end else 0,
                4900,
                "USD",
                first_seen_at=start,
                last_seen_at=end or now,
                subscribed_at=start,
                cancelled_at=end,
            )
        )
        changes.append(
            StatusChangeRow(
                tenant_id, cid, start, 0, "new", "active", "lead", "pro", 4900, 0, "USD"
            )
        )
        if end:
            changes.append(
                StatusChangeRow(
                    tenant_id, cid, end, 1, "churned", "cancelled", "active", "pro", 0, 4900, "USD"
                )
            )
        day = start.date() + DAY
        last = (end or now).date()
        while day < last:
            if rnd.random() < 0.6:
                app_uses = 3 if reports else 4
                usage.append(UsageDayRow(tenant_id, cid, day, 4, 1 + int(reports)))
                moment = datetime.combine(day, datetime.min.time(), UTC) + 10 * timedelta(hours=1)
                events.append(
                    EventRecord(
                        tenant_id,
                        uuid7(),
                        f"u-{cid}-{day}",
                        "h",
                        cid,
                        "usage",
                        moment,
                        quantity=app_uses,
                        feature="app",
                    )
                )
                if reports:
                    events.append(
                        EventRecord(
                            tenant_id,
                            uuid7(),
                            f"r-{cid}-{day}",
                            "h",
                            cid,
                            "usage",
                            moment + timedelta(minutes=5),
                            quantity=1,
                            feature="reports",
                        )
                    )
            day += DAY
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    for table in (rows, changes, usage, events):
        await copy_rows(driver, table)
    del today
    return traits
