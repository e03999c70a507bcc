"""Test fixtures: a real PostgreSQL (TEST_DATABASE_URL, else the embedded one), a fresh database
per test session migrated by Alembic, and per-test isolation by an outer transaction that each
request joins through a SAVEPOINT and that is rolled back at the end.

With ``TEST_DATABASE_PREPARED=1`` the suite runs in the database TEST_DATABASE_URL names, as it
is, instead of creating one: a database already migrated to head (and, to test scale-out,
distributed with ``holdfast citus distribute``; see docs/scaling.md). Tests that must create
their own databases skip in that mode only (``requires_own_database``).

Tests that need committed data and real concurrency use ``committed`` instead: the real engine,
with every tenant they create deleted afterwards (tenant rows cascade to everything else).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import hypothesis
import pytest
from sqlalchemy import Engine, event, make_url, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import Pool

from app.config import Settings, normalize_database_url
from app.db import Database, make_engine, session_factory
from app.embedded import EmbeddedPostgres
from app.main import create_app
from app.migrate import upgrade
from app.models.base import Base
from app.onboarding import create_tenant
from tests.sql_guard import StatementLog

# Timing is not behaviour (speed lives in bench/): a loaded machine must not fail a property test.
hypothesis.settings.register_profile(
    "holdfast", deadline=None, suppress_health_check=[hypothesis.HealthCheck.too_slow]
)
hypothesis.settings.load_profile("holdfast")

# Every statement the tests' connections run, checked after each test for SQL Citus refuses.
STATEMENTS = StatementLog()
STATEMENTS.use_metadata(Base.metadata)


def _issued_by_a_migration() -> bool:
    """Migrations run once per database, not per tenant (Citus runs their multi-shard
    statements as such): the guard judges the application's SQL, not theirs."""
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_globals.get("__name__", "").startswith("alembic."):
            return True
        frame = frame.f_back  # type: ignore[assignment]
    return False


@event.listens_for(Engine, "before_cursor_execute")
def _record_statement(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
    if not _issued_by_a_migration():
        STATEMENTS.record(statement)


@event.listens_for(Pool, "connect")
def _record_driver_statements(dbapi_connection: Any, _record: Any) -> None:
    # The hot paths send batches straight to asyncpg, past SQLAlchemy's events.
    driver = getattr(dbapi_connection, "driver_connection", None)
    if driver is not None:
        driver.add_query_logger(STATEMENTS.record_asyncpg)


@pytest.fixture(autouse=True)
def citus_sql_guard() -> Iterator[None]:
    """Fails a test whose SQL Citus would refuse on distributed tables (see tests/sql_guard.py).

    Synchronous on purpose: it also wraps sync tests that run their own event loops."""
    start = len(STATEMENTS.statements)
    yield
    problems = STATEMENTS.problems_since(start)
    STATEMENTS.statements.clear()
    if problems:
        pytest.fail("SQL that Citus refuses:\n" + "\n".join(problems), pytrace=False)


PREPARED_DATABASE = os.environ.get("TEST_DATABASE_PREPARED") == "1"

requires_own_database = pytest.mark.skipif(
    PREPARED_DATABASE,
    reason="creates its own database; TEST_DATABASE_PREPARED=1 runs in one prepared database",
)


@dataclass
class ServerInfo:
    admin_url: str  # a database on the server we may create databases from
    embedded_data_dir: Path | None


@pytest.fixture(scope="session")
def pg_server() -> Iterator[ServerInfo]:
    configured = os.environ.get("TEST_DATABASE_URL")
    if PREPARED_DATABASE and not configured:
        pytest.exit("TEST_DATABASE_PREPARED=1 needs TEST_DATABASE_URL", returncode=2)
    if configured:
        yield ServerInfo(admin_url=normalize_database_url(configured), embedded_data_dir=None)
        return
    data_dir = Path(tempfile.mkdtemp(prefix="hf-test-pg-"))
    embedded = EmbeddedPostgres(data_dir)
    embedded.start()
    try:
        yield ServerInfo(admin_url=embedded.url("postgres"), embedded_data_dir=data_dir)
    finally:
        embedded.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


async def create_database(admin_url: str, name: str) -> str:
    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await engine.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


async def drop_database(admin_url: str, name: str) -> None:
    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings(database_url=None, db_connect_timeout_s=2.0, db_pool_timeout_s=2.0)


@pytest.fixture(scope="session")
async def database_url(pg_server: ServerInfo, settings: Settings) -> AsyncIterator[str]:
    if PREPARED_DATABASE:
        await _require_head(pg_server.admin_url, settings)
        yield pg_server.admin_url
        return
    name = f"holdfast_test_{uuid.uuid4().hex[:12]}"
    url = await create_database(pg_server.admin_url, name)
    engine = make_engine(url, settings)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()
    yield url
    await drop_database(pg_server.admin_url, name)


async def _require_head(url: str, settings: Settings) -> None:
    from alembic.script import ScriptDirectory

    from app.migrate import alembic_config

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    engine = make_engine(url, settings)
    try:
        async with engine.connect() as conn:
            current = await conn.scalar(text("SELECT version_num FROM alembic_version"))
    finally:
        await engine.dispose()
    if current != head:
        pytest.exit(
            f"TEST_DATABASE_PREPARED=1: the database is at revision {current}, not at head "
            f"{head}; run `holdfast migrate` (and `holdfast citus distribute`) on it first",
            returncode=2,
        )


@pytest.fixture(scope="session")
async def engine(database_url: str, settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(database_url, settings)
    async with engine.connect() as conn:
        # Function names with no IMMUTABLE variant, for the SQL guard.
        names = await conn.scalars(
            text("SELECT proname FROM pg_proc GROUP BY proname HAVING bool_and(provolatile <> 'i')")
        )
        STATEMENTS.non_immutable.update(names)
    yield engine
    await engine.dispose()


@pytest.fixture
async def conn(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    async with engine.connect() as connection:
        outer = await connection.begin()
        yield connection
        if outer.is_active:
            await outer.rollback()


@pytest.fixture
def app(conn: AsyncConnection, engine: AsyncEngine, settings: Settings) -> Any:
    return create_app(settings, Database(engine, session_factory(conn)))


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://holdfast.test") as c:
        yield c


@dataclass
class TenantInfo:
    id: uuid.UUID
    admin_key: str
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.headers = bearer(self.admin_key)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def make_tenant(bind: AsyncConnection | AsyncEngine, name: str = "acme") -> TenantInfo:
    async with session_factory(bind)() as session, session.begin():
        tenant, key = await create_tenant(session, name)
    return TenantInfo(id=tenant.id, admin_key=key.plaintext)


@pytest.fixture
async def tenant(conn: AsyncConnection) -> TenantInfo:
    return await make_tenant(conn, "acme")


@pytest.fixture
async def other_tenant(conn: AsyncConnection) -> TenantInfo:
    return await make_tenant(conn, "globex")


async def make_key(client: httpx.AsyncClient, admin: TenantInfo, *scopes: str) -> str:
    response = await client.post(
        "/v1/api-keys", json={"name": "test", "scopes": list(scopes)}, headers=admin.headers
    )
    assert response.status_code == 201, response.text
    key: str = response.json()["key"]
    return key


class Committed:
    """Real engine, real commits; tenants made here are deleted (cascading) at teardown."""

    def __init__(self, engine: AsyncEngine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
        self.database = Database(engine, session_factory(engine))
        self.tenant_ids: list[uuid.UUID] = []

    async def tenant(self, name: str = "acme") -> TenantInfo:
        info = await make_tenant(self.engine, name)
        self.tenant_ids.append(info.id)
        return info

    def app(self) -> Any:
        return create_app(self.settings, self.database)

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app()), base_url="http://holdfast.test"
        )

    async def cleanup(self) -> None:
        # A server under test may still be scoring these tenants' customers in the background:
        # the cascading delete can then lose a deadlock to it, and is simply retried.
        for attempt in range(5):
            try:
                if self.tenant_ids:
                    async with self.engine.begin() as connection:
                        await connection.execute(
                            text("DELETE FROM tenants WHERE id = ANY(:ids)"),
                            {"ids": self.tenant_ids},
                        )
                return
            except DBAPIError as exc:
                if "deadlock" not in str(exc) or attempt == 4:
                    raise


@pytest.fixture
async def committed(engine: AsyncEngine, settings: Settings) -> AsyncIterator[Committed]:
    helper = Committed(engine, settings)
    yield helper
    await helper.cleanup()
