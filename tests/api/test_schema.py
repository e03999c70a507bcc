"""The migrated schema is the schema the models describe, it can be torn down, and it is ready to
be distributed by tenant (Citus): tenant_id leads every tenant-owned key."""

import uuid
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

import app.models  # noqa: F401
from app.config import Settings
from app.db import make_engine
from app.migrate import downgrade, upgrade
from app.models.base import Base
from app.models.distribution import (
    DISTRIBUTION_COLUMN,
    LOCAL_TABLES,
    REFERENCE_TABLES,
    tenant_tables,
)
from tests.conftest import ServerInfo, create_database, drop_database, requires_own_database

NOT_DISTRIBUTED = {*REFERENCE_TABLES, *LOCAL_TABLES}


async def hide_citus_shards(conn: AsyncConnection) -> None:
    """The app's connections show Citus's shard tables (app/db.py); these checks look at the
    tables themselves. A placeholder setting on plain PostgreSQL."""
    await conn.execute(text("SET LOCAL citus.override_table_visibility = on"))


async def test_migrated_schema_matches_the_models(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await hide_citus_shards(conn)
        diffs: list[Any] = await conn.run_sync(
            lambda sync: compare_metadata(
                MigrationContext.configure(
                    sync, opts={"compare_type": True, "compare_server_default": True}
                ),
                Base.metadata,
            )
        )
    assert diffs == []


@requires_own_database
async def test_downgrade_to_base_and_back(pg_server: ServerInfo, settings: Settings) -> None:
    name = f"holdfast_mig_{uuid.uuid4().hex[:10]}"
    url = await create_database(pg_server.admin_url, name)
    engine = make_engine(url, settings)
    try:
        await upgrade(engine)
        await downgrade(engine, "base")
        async with engine.connect() as conn:
            await hide_citus_shards(conn)
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
    """Citus enforces a unique index or primary key only when it holds the distribution column;
    only the reference tables (listed in app/models/distribution.py) are exempt."""
    async with engine.connect() as conn:
        await hide_citus_shards(conn)
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
    assert {"api_keys", "customers", "events"} <= tables
    for row in rows:
        if row.table_name in NOT_DISTRIBUTED:
            continue
        if row.indisprimary:
            assert row.columns[0] == DISTRIBUTION_COLUMN, (row.table_name, row.columns)
        else:
            assert DISTRIBUTION_COLUMN in row.columns, (row.table_name, row.index_name, row.columns)


async def _foreign_keys(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as conn:
        await hide_citus_shards(conn)
        return list(
            (
                await conn.execute(
                    text("""
            SELECT c.conname, src.relname AS source, dst.relname AS target,
                   array_agg(sa.attname ORDER BY k.ord) AS source_columns,
                   array_agg(da.attname ORDER BY k.ord) AS target_columns
            FROM pg_constraint c
            JOIN pg_class src ON src.oid = c.conrelid
            JOIN pg_class dst ON dst.oid = c.confrelid
            CROSS JOIN LATERAL unnest(c.conkey, c.confkey) WITH ORDINALITY AS k(s, d, ord)
            JOIN pg_attribute sa ON sa.attrelid = c.conrelid AND sa.attnum = k.s
            JOIN pg_attribute da ON da.attrelid = c.confrelid AND da.attnum = k.d
            WHERE c.contype = 'f' AND src.relnamespace = 'public'::regnamespace
            GROUP BY c.conname, src.relname, dst.relname
        """)
                )
            ).all()
        )


async def test_every_foreign_key_between_tenant_tables_pairs_tenant_id(
    engine: AsyncEngine,
) -> None:
    """Citus accepts a foreign key between distributed tables only when it pairs their
    distribution columns; reference tables may only reference reference tables."""
    foreign_keys = await _foreign_keys(engine)
    assert any(fk.target == "customers" for fk in foreign_keys), "no foreign keys found"
    for fk in foreign_keys:
        if fk.source in REFERENCE_TABLES:
            assert fk.target in REFERENCE_TABLES, fk
        elif fk.target not in REFERENCE_TABLES:
            pairs = set(zip(fk.source_columns, fk.target_columns, strict=True))
            assert (DISTRIBUTION_COLUMN, DISTRIBUTION_COLUMN) in pairs, fk


async def test_every_table_is_classified_for_distribution(engine: AsyncEngine) -> None:
    """A new table is either tenant-owned (has tenant_id) or listed as a reference table."""
    async with engine.connect() as conn:
        await hide_citus_shards(conn)
        tables = set(
            (
                await conn.execute(
                    text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
                )
            ).scalars()
        )
    distributed = tenant_tables(Base.metadata)
    assert tables == {*distributed, *REFERENCE_TABLES, *LOCAL_TABLES}
