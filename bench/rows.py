"""Rows that benchmarks and generated test histories COPY straight into the tables: one named
tuple per table, its fields the columns written (the columns left out keep their defaults)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, NamedTuple


class CustomerRow(NamedTuple):
    tenant_id: uuid.UUID
    customer_id: str
    status: str
    plan: str | None
    mrr: int
    plan_mrr: int
    currency: str | None
    first_seen_at: datetime
    last_seen_at: datetime
    subscribed_at: datetime | None = None
    cancelled_at: datetime | None = None
    last_usage_at: datetime | None = None
    last_purchase_at: datetime | None = None
    nps_latest: int | None = None


class StatusChangeRow(NamedTuple):
    tenant_id: uuid.UUID
    customer_id: str
    effective_at: datetime
    seq: int
    kind: str
    status: str
    previous_status: str
    plan: str | None
    mrr: int
    previous_mrr: int
    currency: str | None
    reason: str | None = None


class UsageDayRow(NamedTuple):
    tenant_id: uuid.UUID
    customer_id: str
    day: date
    quantity: int
    events: int = 1


class EventRecord(NamedTuple):
    tenant_id: uuid.UUID
    id: uuid.UUID
    idempotency_key: str
    content_hash: str
    customer_id: str
    type: str
    occurred_at: datetime
    effective_at: datetime | None = None
    amount: int | None = None
    currency: str | None = None
    quantity: int | None = None
    feature: str | None = None


TABLES: dict[type[Any], str] = {
    CustomerRow: "customers",
    StatusChangeRow: "customer_status_changes",
    UsageDayRow: "usage_daily",
    EventRecord: "events",
}


async def copy_rows(conn: Any, rows: Sequence[NamedTuple]) -> None:
    """COPY ``rows`` (all of one of the types above) into their table with an asyncpg
    connection."""
    if rows:
        kind = type(rows[0])
        await conn.copy_records_to_table(TABLES[kind], records=rows, columns=list(kind._fields))
