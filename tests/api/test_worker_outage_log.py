"""The webhook worker during a database outage: one warning when it starts, one line when it
ends, never a traceback per poll."""

from __future__ import annotations

import asyncio
import logging

import pytest

from app.config import Settings
from app.db import Database
from app.webhooks.worker import DeliveryWorker


async def test_an_outage_is_one_line_not_a_traceback_per_poll(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    quick = settings.model_copy(
        update={"webhook_poll_interval_s": 0.02, "db_connect_timeout_s": 0.5}
    )
    # Nothing listens on port 9: every poll fails to connect, as while PostgreSQL is down.
    database = Database.from_url("postgresql+asyncpg://holdfast@127.0.0.1:9/holdfast", quick)
    worker = DeliveryWorker.from_settings(database, quick)
    caplog.set_level(logging.INFO, logger="holdfast.webhooks")
    try:
        worker.start()
        await asyncio.sleep(1.0)
        await worker.stop()
    finally:
        await database.dispose()
    records = [r for r in caplog.records if r.name == "holdfast.webhooks"]
    assert [r.levelname for r in records] == ["WARNING"], [r.getMessage() for r in records]
    assert "database unavailable" in records[0].getMessage()
    assert records[0].exc_info is None
