"""Database access: one async engine per process, one transaction per request.

The request transaction is a ``yield`` dependency with ``scope="function"``: it commits when the
endpoint function returns and *before* the response is sent, so a 2xx always means committed.
Any exception rolls it back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import text
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from app.config import Settings


def make_engine(
    url: str, settings: Settings, *, server_settings: dict[str, str] | None = None, **overrides: Any
) -> AsyncEngine:
    options: dict[str, Any] = {
        "pool_pre_ping": True,
        "pool_size": settings.db_pool_size,
        "max_overflow": settings.db_max_overflow,
        "pool_timeout": settings.db_pool_timeout_s,
        "connect_args": {
            "timeout": settings.db_connect_timeout_s,
            # A stalled server must not hang a request: the driver gives up a little after the
            # server-side statement timeout would have fired.
            "command_timeout": settings.db_statement_timeout_ms / 1000 + 5,
            "server_settings": {
                "statement_timeout": str(settings.db_statement_timeout_ms),
                "idle_in_transaction_session_timeout": "60000",
                "application_name": "holdfast",
                # On a Citus coordinator, hiding shards from pg_class slows every catalog query:
                # asyncpg's type introspection took 2-10 s per new connection, holding the
                # request's locks meanwhile. Holdfast never lists tables; on plain PostgreSQL
                # this is an unused placeholder.
                "citus.override_table_visibility": "off",
                # asyncpg prepares every statement; after five runs PostgreSQL may switch to a
                # generic plan that ignores the parameters' values. For `= ANY($n)` over a
                # chunk of ids that plan scanned every row of the tenant (6.6 s instead of
                # 79 ms per chunk on PostgreSQL 15). Planning each run costs far less.
                "plan_cache_mode": "force_custom_plan",
                **(server_settings or {}),
            },
        },
    }
    options.update(overrides)
    return create_async_engine(url, **options)


class Database:
    """The engine and the session factory the app uses; tests may bind the factory elsewhere."""

    def __init__(self, engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession]):
        self.engine = engine
        self.sessionmaker = sessionmaker

    @classmethod
    def from_url(cls, url: str, settings: Settings) -> Database:
        engine = make_engine(url, settings)
        return cls(engine, session_factory(engine))

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()


def session_factory(bind: AsyncEngine | AsyncConnection) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(
        bind=bind,
        expire_on_commit=False,
        autoflush=False,
        # When bound to a connection already inside a transaction (tests), each request gets a
        # SAVEPOINT instead of committing the outer transaction.
        join_transaction_mode="create_savepoint",
    )


async def driver_connection(session: AsyncSession) -> Any:
    """The asyncpg connection under the session's current transaction, for hot paths that pass
    whole batches as typed arrays.

    SQLAlchemy's asyncpg adapter opens the database transaction lazily, on its first statement.
    Statements sent straight to the driver before that would each commit on their own (and row
    locks would not last), so make the adapter open it first.
    """
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    if not driver.is_in_transaction():
        await connection.exec_driver_sql("SELECT 1")
    return driver


DIALECT = postgresql.dialect()  # type: ignore[no-untyped-call]


def typed_columns(model: type[Any], names: Iterable[str]) -> tuple[tuple[str, str], ...]:
    """``(name, PostgreSQL type)`` of ``model``'s columns ``names``, for statements that pass a
    batch as one typed array per column (``unnest($2::bigint[], ...)``): the types come from
    the model, never retyped."""
    table = model.__table__
    return tuple((name, table.c[name].type.compile(dialect=DIALECT).lower()) for name in names)


def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


async def _request_session(request: Request) -> AsyncIterator[AsyncSession]:
    database = get_database(request)
    async with database.sessionmaker() as session, session.begin():
        yield session


Session = Annotated[AsyncSession, Depends(_request_session, scope="function")]
