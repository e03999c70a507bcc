"""The migrated schema is the schema the models describe, it can be torn down, and it is ready to
be distributed by tenant (Citus): tenant_id leads every tenant-owned key."""

import uuid
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

import app.models  # noqa: F401
from app.config import Settings
from app.db import make_engine
from app.migrate import downgrade, upgrade
from app.models.base import Base
from tests.conftest import ServerInfo, create_database, drop_database

# Small reference tables allowed to have keys not led by tenant_id.
REFERENCE_TABLES = {"tenants", "alembic_version"}
GLOBAL_UNIQUE_INDEXES = {"uq_api_keys_prefix"}  # authentication must find a key before its tenant


async def test_migrated_schema_matches_the_models(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        diffs: list[Any] = await conn.run_sync(
            lambda sync: compare_metadata(
                MigrationContext.configure(
                    sync, opts={"compare_type": True, "compare_server_default": True}
                ),
                Base.metadata,
            )
        )
    assert diffs == []


async def test_downgrade_to_base_and_back(pg_server: ServerInfo, settings: Settings) -> None:
    name = f"holdfast_mig_{uuid.uuid4().hex[:10]}"
    url = await create_database(pg_server.admin_url, name)
    engine = make_engine(url, settings)
    try:
        await upgrade(engine)
        await downgrade(engine, "base")
        async with engine.connect() as conn:
            tables = (
                (
                    await conn.execute(
                        text(
                            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                            " AND tablename <> 'alembic_version'"
                        )
                    )
                )
                .scalars()
                .all()
            )
            types = (
                (
                    await conn.execute(
                        text(
                            "SELECT typname FROM pg_type t"
                            " JOIN pg_namespace n ON n.oid = t.typnamespace"
                            " WHERE n.nspname = 'public' AND t.typtype = 'e'"
                        )
                    )
                )
                .scalars()
                .all()
            )
        assert tables == []
        assert types == []
        await upgrade(engine)
    finally:
        await engine.dispose()
        await drop_database(pg_server.admin_url, name)


async def test_tenant_id_leads_every_primary_key_and_is_in_every_unique_index(
    engine: AsyncEngine,
) -> None:
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text("""
            SELECT c.relname AS table_name, i.relname AS index_name, x.indisprimary,
                   array_agg(a.attname ORDER BY k.ord) AS columns
            FROM pg_index x
            JOIN pg_class c ON c.oid = x.indrelid
            JOIN pg_class i ON i.oid = x.indexrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            CROSS JOIN LATERAL unnest(x.indkey) WITH ORDINALITY AS k(attnum, ord)
            JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
            WHERE n.nspname = 'public' AND (x.indisunique OR x.indisprimary)
            GROUP BY c.relname, i.relname, x.indisprimary
        """)
            )
        ).all()
    assert rows, "no indexes found"
    tables = {row.table_name for row in rows}
    assert "api_keys" in tables
    for row in rows:
        if row.table_name in REFERENCE_TABLES or row.index_name in GLOBAL_UNIQUE_INDEXES:
            continue
        if row.indisprimary:
            assert row.columns[0] == "tenant_id", (row.table_name, row.columns)
        else:
            assert "tenant_id" in row.columns, (row.table_name, row.index_name, row.columns)
