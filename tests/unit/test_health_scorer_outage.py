"""The background health scorer through a database outage: it keeps retrying, and says so once
per outage, not once a round."""

from __future__ import annotations

import asyncio
import logging

import pytest

from app.config import Settings
from app.scheduler import HealthScorer


async def test_an_unreachable_database_is_logged_once_while_the_scorer_retries(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = Settings(health_drain_interval_s=0.05, db_connect_timeout_s=1)
    # Nothing listens on port 9: every round fails at once.
    scorer = HealthScorer("postgresql+asyncpg://holdfast@127.0.0.1:9/holdfast", settings)
    with caplog.at_level(logging.INFO, logger="holdfast.scheduler"):
        scorer.start()
        await asyncio.sleep(1.0)  # about twenty rounds
        assert scorer._thread is not None and scorer._thread.is_alive()
        await scorer.stop()
    failures = [r for r in caplog.records if "health scorer failed" in r.getMessage()]
    assert len(failures) == 1, [r.getMessage() for r in caplog.records]
    assert failures[0].exc_info is not None
