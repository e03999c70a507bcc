"""`holdfast demo` loads a deterministic history through the ingest path, idempotently."""

import re

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.demo.generator import generate
from tests.e2e.helpers import clean_env, run_cli

pytestmark = pytest.mark.e2e


def test_generator_is_deterministic_per_seed() -> None:
    a, b, c = (
        generate(50, months=3, seed=4),
        generate(50, months=3, seed=4),
        generate(50, months=3, seed=5),
    )
    assert a.events == b.events
    assert a.events != c.events
    kinds = {e["type"] for e in generate(400, months=6, seed=1).events}
    assert {"purchase", "usage", "cancellation", "pause", "payment_failed", "feedback"} <= kinds


async def test_demo_loads_once_and_prints_keys(database_url: str, engine: AsyncEngine) -> None:
    env = clean_env(DATABASE_URL=database_url)
    try:
        first = run_cli(
            "demo", "--customers", "150", "--months", "6", "--seed", "5", env=env, timeout=300
        )
        assert first.returncode == 0, first.stderr
        assert "/dashboard" in first.stdout
        assert re.search(r"read API key  hf_\w+", first.stdout)
        loaded = int(re.search(r"\((\d+) new, 0 already loaded\)", first.stdout).group(1))  # type: ignore[union-attr]
        assert loaded > 500
        assert "events" in first.stderr  # the progress bar

        again = run_cli(
            "demo", "--customers", "150", "--months", "6", "--seed", "5", env=env, timeout=300
        )
        assert again.returncode == 0, again.stderr
        assert f"(0 new, {loaded} already loaded)" in again.stdout  # flows are not replayed either
        keys = [
            re.findall(r"(?:read|admin) API key\s+(hf_\w+)", run.stdout) for run in (first, again)
        ]
        assert [len(k) for k in keys] == [2, 2]
        async with engine.connect() as conn:
            tenants = await conn.scalar(
                text("SELECT count(*) FROM tenants WHERE name = 'Holdfast demo'")
            )
            events = await conn.scalar(
                text(
                    "SELECT count(*) FROM events e JOIN tenants t ON t.id = e.tenant_id"
                    " WHERE t.name = 'Holdfast demo'"
                )
            )
            snapshot_days = await conn.scalar(
                text(
                    "SELECT count(DISTINCT day) FROM health_snapshots s"
                    " JOIN tenants t ON t.id = s.tenant_id"
                    " WHERE t.name = 'Holdfast demo'"
                )
            )
            plans = await conn.scalar(
                text(
                    "SELECT count(*) FROM plans p JOIN tenants t ON t.id = p.tenant_id"
                    " WHERE t.name = 'Holdfast demo'"
                )
            )
            flows = dict(
                (
                    await conn.execute(
                        text(
                            "SELECT status, count(*) FROM cancellation_flows f"
                            " JOIN tenants t ON t.id = f.tenant_id"
                            " WHERE t.name = 'Holdfast demo' GROUP BY status"
                        )
                    )
                ).all()
            )
            from_flows = await conn.scalar(
                text(
                    "SELECT count(*) FROM events e JOIN tenants t ON t.id = e.tenant_id"
                    " WHERE t.name = 'Holdfast demo' AND e.source = 'flow'"
                )
            )
            # Only the keys printed last are valid: a rerun revokes the ones it printed before.
            active = set(
                (
                    await conn.execute(
                        text(
                            "SELECT k.prefix FROM api_keys k JOIN tenants t ON t.id = k.tenant_id"
                            " WHERE t.name = 'Holdfast demo' AND k.revoked_at IS NULL"
                        )
                    )
                ).scalars()
            )
        assert {key[3:15] for key in keys[1]} == active  # hf_<12-character prefix>_...
        assert not {key[3:15] for key in keys[0]} & active
        assert (tenants, events - from_flows, plans) == (1, loaded, 3)
        assert flows.get("accepted", 0) >= 1 and flows.get("declined", 0) >= 1, flows
        assert snapshot_days >= 10  # the health history starts where the events do
    finally:
        async with engine.begin() as conn:
            await conn.execute(text("DELETE FROM tenants WHERE name = 'Holdfast demo'"))
