"""Generic plans must not turn the rescore's chunk reads into scans of the whole tenant.

asyncpg prepares every statement and PostgreSQL may switch a prepared statement to a generic
plan after five runs: on PostgreSQL 15 the 100k-customer rescore once took over ten minutes
that way. Two guards: the app's connections plan every execution for its parameters, and the
hot statements are good even when planned generically: a dense chunk's index condition
bounds the customer id (the index read is the chunk's, not the tenant's), and scattered
customers are read one index descent per id.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.health import repository
from tests.conftest import TenantInfo

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
TODAY = NOW.date()


async def test_app_connections_plan_every_execution_for_its_parameters(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        assert (await conn.scalar(text("SHOW plan_cache_mode"))) == "force_custom_plan"


def _literal(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "ARRAY[" + ",".join(f"'{v}'" for v in value) + "]::text[]"
    if isinstance(value, datetime | date | uuid.UUID | str):
        return f"'{value}'"
    raise TypeError(value)


HOT = {
    "usage days": (
        repository.USAGE_MATRIX,
        "uuid, text[], date, date, text, text, boolean",
        lambda t, ids, lo, hi, dense: [t, ids, TODAY, TODAY - timedelta(days=90), lo, hi, dense],
        "pk_usage_daily",
    ),
    "usage events": (
        repository.USAGE_EVENTS,
        "uuid, text[], timestamptz, timestamptz, timestamptz, text, text, boolean",
        lambda t, ids, lo, hi, dense: [t, ids, NOW, NOW, NOW, lo, hi, dense],
        "ix_events_customer_time",
    ),
    "purchases": (
        repository.PURCHASES_AND_FAILURES,
        "uuid, text[], timestamptz, timestamptz, timestamptz, timestamptz, text, text, boolean",
        lambda t, ids, lo, hi, dense: [t, ids, NOW, NOW, NOW, NOW, lo, hi, dense],
        "ix_events_purchases",
    ),
}


async def _populate(conn: AsyncConnection, tenant_id: uuid.UUID, *, analyse: bool = True) -> None:
    """A tenant of 800 customers with usage, purchases and usage events, analysed, so the
    planner sees a realistic shape."""
    await conn.execute(
        text("""
            INSERT INTO usage_daily (tenant_id, customer_id, day, quantity, events)
            SELECT :t, 'cus_' || lpad(c::text, 4, '0'), CAST(:today AS date) - d, 3, 1
            FROM generate_series(0, 799) AS c, generate_series(1, 30) AS d
        """),
        {"t": tenant_id, "today": TODAY},
    )
    await conn.execute(
        text("""
            INSERT INTO events (tenant_id, id, idempotency_key, content_hash, customer_id, type,
                                occurred_at, amount, currency, quantity, feature)
            SELECT :t, gen_random_uuid(), 'k' || c || '-' || d, 'h',
                   'cus_' || lpad(c::text, 4, '0'), CASE WHEN d % 5 = 0 THEN 'purchase'
                   ELSE 'usage' END, CAST(:now AS timestamptz) - d * interval '1 day',
                   CASE WHEN d % 5 = 0 THEN 100 END, CASE WHEN d % 5 = 0 THEN 'USD' END,
                   CASE WHEN d % 5 = 0 THEN NULL ELSE 1 END,
                   CASE WHEN d % 5 = 0 THEN NULL ELSE 'f' || d % 3 END
            FROM generate_series(0, 799) AS c, generate_series(1, 15) AS d
        """),
        {"t": tenant_id, "now": NOW},
    )
    if analyse:
        await conn.execute(text("ANALYZE usage_daily"))
        await conn.execute(text("ANALYZE events"))


@pytest.mark.parametrize("name", sorted(HOT))
@pytest.mark.parametrize(
    ("dense", "analyse"),
    # Scattered customers also on rows the planner has no statistics for yet (a fresh import):
    # a flattened join was once planned inside out there, comparing every row with every id.
    [(True, True), (False, True), (False, False)],
)
async def test_hot_statements_read_only_the_chunk_under_a_generic_plan(
    conn: AsyncConnection, tenant: TenantInfo, name: str, dense: bool, analyse: bool
) -> None:
    if await conn.scalar(text("SELECT 1 FROM pg_extension WHERE extname = 'citus'")):
        pytest.skip("plan shape of plain PostgreSQL; on Citus each shard plans its own query")
    forms, types, args, index = HOT[name]
    sql = forms[dense]  # a form per kind of set: a dense chunk, scattered customers
    await _populate(conn, tenant.id, analyse=analyse)
    ids = [f"cus_{n:04d}" for n in range(100, 200)]
    await conn.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))
    statement = f"hf_generic_{name.replace(' ', '_')}_{int(dense)}"
    await conn.exec_driver_sql(f"PREPARE {statement}({types}) AS {sql}")
    values = ", ".join(_literal(v) for v in args(tenant.id, ids, ids[0], ids[-1], dense))
    plan = "\n".join(
        row[0] for row in await conn.exec_driver_sql(f"EXPLAIN EXECUTE {statement}({values})")
    )
    await conn.exec_driver_sql(f"DEALLOCATE {statement}")
    assert "$" in plan, "not a generic plan"
    conditions = re.findall(r"Index Cond: \((.*)\)", plan)
    if dense:
        # The customer-id bounds are index conditions, not filters over the tenant's rows.
        assert index in plan, plan
        assert conditions and all("customer_id" in c and ">=" in c for c in conditions), plan
    else:
        # One index descent per id: every index condition pins the customer.
        assert "Nested Loop" in plan, plan
        pinned = re.compile(r"customer_id\)::text = c(_\d+)?\.customer_id")
        assert conditions and all(pinned.search(c) for c in conditions), plan
    assert "Seq Scan on usage_daily" not in plan and "Seq Scan on events" not in plan, plan
