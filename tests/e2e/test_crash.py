"""The short version of bench/crash.py: acknowledged events survive a SIGKILL of the server
and a stop and a crash of PostgreSQL, counters equal a recount, and the audit catches builds
that acknowledge before committing or skip the customer update."""

from __future__ import annotations

import io

import pytest

from bench.crash import run

pytestmark = pytest.mark.e2e


async def test_acknowledged_events_survive_server_and_database_crashes() -> None:
    out = io.StringIO()
    result = await run(seconds=16, clients=4, faults=("kill", "pg-stop", "pg-crash"), out=out)
    print(out.getvalue())
    assert result.failures == []
    figures = result.figures
    assert figures["acknowledged"] > 1000
    assert figures["unknown"] > 0, "the faults did not interrupt any request"
    assert figures["rejected"] > 0, "the load sent no invalid event"


async def test_a_build_that_acknowledges_before_commit_is_caught() -> None:
    out = io.StringIO()
    result = await run(seconds=8, clients=4, broken="ack-before-commit", faults=("kill",), out=out)
    print(out.getvalue())
    assert any("acknowledged events are not stored" in f for f in result.failures), out.getvalue()


async def test_a_build_that_skips_the_customer_update_is_caught() -> None:
    out = io.StringIO()
    result = await run(seconds=4, clients=2, broken="skip-fold", faults=(), out=out)
    print(out.getvalue())
    assert any("counters differ from a recount" in f for f in result.failures), out.getvalue()
