"""`holdfast citus distribute` and the migration helper, on whatever database the suite runs:
on plain PostgreSQL they refuse politely and change nothing; on a distributed database
(TEST_DATABASE_PREPARED=1 on a Citus cluster) the layout matches app/models/distribution.py and
running the command again changes nothing. Also: the SQL guard sees both ways the app talks to
the database, so it can fail."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

import app.models  # noqa: F401
from app.citus.service import (
    CitusUnavailable,
    citus_version,
    current_layout,
    distribute,
    distribute_new_table,
)
from app.db import driver_connection, session_factory
from app.models.base import Base
from app.models.distribution import DISTRIBUTION_COLUMN, REFERENCE_TABLES, tenant_tables
from tests.conftest import STATEMENTS
from tests.e2e.helpers import clean_env, run_cli


async def test_distribute_refuses_politely_without_citus_or_changes_nothing_when_distributed(
    conn: AsyncConnection,
) -> None:
    version = await conn.run_sync(citus_version)
    if version is None:
        with pytest.raises(CitusUnavailable, match="citus extension is not installed"):
            await conn.run_sync(lambda sync: distribute(sync, Base.metadata))
        return
    report = await conn.run_sync(lambda sync: distribute(sync, Base.metadata))
    assert not report.plan.changes
    assert report.plan.already_reference == REFERENCE_TABLES
    assert report.plan.already_distributed == tuple(tenant_tables(Base.metadata))
    assert report.lines()[-1] == "nothing to do: already distributed"
    layout = await conn.run_sync(current_layout)
    groups = {layout[name].colocation_id for name in tenant_tables(Base.metadata)}
    assert len(groups) == 1
    assert all(layout[name].column == DISTRIBUTION_COLUMN for name in tenant_tables(Base.metadata))


def test_the_command_reports_what_it_did_or_why_not(database_url: str) -> None:
    result = run_cli("citus", "distribute", env=clean_env(DATABASE_URL=database_url))
    if result.returncode == 1:
        assert "citus extension is not installed" in result.stderr
        assert "nothing was changed" in result.stderr
    else:
        assert result.returncode == 0, result.stderr
        assert "nothing to do: already distributed" in result.stdout


async def test_a_migration_distributes_the_table_it_adds(conn: AsyncConnection) -> None:
    """The recipe of docs/scaling.md: create the table, distribute it, then add its foreign
    keys to other tenant tables."""
    await conn.execute(
        text("""
        CREATE TABLE scratch_notes (
            tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
            customer_id varchar(200) NOT NULL,
            note text NOT NULL,
            PRIMARY KEY (tenant_id, customer_id)
        )""")
    )
    distributed = await conn.run_sync(lambda sync: distribute_new_table(sync, "scratch_notes"))
    await conn.execute(
        text(
            "ALTER TABLE scratch_notes ADD FOREIGN KEY (tenant_id, customer_id)"
            " REFERENCES customers (tenant_id, customer_id) ON DELETE CASCADE"
        )
    )
    if await conn.run_sync(citus_version) is None:
        assert distributed is False
    else:
        assert distributed is True
        layout = await conn.run_sync(current_layout)
        assert layout["scratch_notes"].colocation_id == layout["customers"].colocation_id
    await conn.execute(
        text("SELECT * FROM scratch_notes WHERE tenant_id = :t"), {"t": uuid.uuid4()}
    )


async def test_the_sql_guard_records_statements_of_sqlalchemy_and_of_the_driver(
    conn: AsyncConnection,
) -> None:
    marker = uuid.uuid4().hex
    async with session_factory(conn)() as session, session.begin():
        await session.execute(text(f"SELECT 1 AS sqlalchemy_{marker}"))
        driver: Any = await driver_connection(session)
        await driver.fetch(f"SELECT 1 AS driver_{marker}")
    await asyncio.sleep(0)  # asyncpg hands logged queries over with call_soon
    recorded = "\n".join(STATEMENTS.statements)
    assert f"sqlalchemy_{marker}" in recorded
    assert f"driver_{marker}" in recorded
