"""A throwaway, migrated database for a benchmark run."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import make_url, text

from app.config import Settings, normalize_database_url
from app.db import make_engine
from app.embedded import EmbeddedPostgres
from app.migrate import upgrade


@asynccontextmanager
async def scratch_database(
    server_url: str | None, settings: Settings, *, keep: bool = False
) -> AsyncIterator[str]:
    """Create ``holdfast_bench_<random>`` on ``server_url`` (an embedded PostgreSQL in a
    temporary directory when None), migrate it, yield its URL, and drop it afterwards unless
    ``keep``.

    With ``BENCH_DATABASE_PREPARED=1``, ``server_url`` names a database prepared beforehand
    (migrated and, for a Citus cluster, distributed: docs/scaling.md) and is used as it is."""
    if server_url is not None and os.environ.get("BENCH_DATABASE_PREPARED") == "1":
        yield normalize_database_url(server_url)
        return
    embedded = tmp = None
    if server_url is None:
        tmp = Path(tempfile.mkdtemp(prefix="hf-bench-"))
        embedded = EmbeddedPostgres(tmp)
        server_url = embedded.start()
    server_url = normalize_database_url(server_url)
    name = f"holdfast_bench_{uuid.uuid4().hex[:8]}"
    admin = make_engine(server_url, settings, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
        engine = make_engine(url, settings)
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()
        try:
            yield url
        finally:
            if not keep:
                async with admin.connect() as conn:
                    await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            else:
                print(f"kept database {name}")
    finally:
        await admin.dispose()
        if embedded is not None:
            embedded.stop()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
