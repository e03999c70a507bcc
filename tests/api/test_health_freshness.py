"""Health scoring off the request path: ingest marks customers dirty, scorers drain the marks
(concurrently, without double work or lost customers), reads of a customer's health score it
first, and every tier change is announced exactly once."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.health.freshness import drain_tenant
from tests.conftest import Committed, TenantInfo
from tests.factories import drain_scores, event, post_batch, subscribe

NOW = datetime.now(UTC)


def ago(days: float) -> str:
    return (NOW - timedelta(days=days)).isoformat()


def engaged(customer: str, days: int = 40) -> list[dict[str, Any]]:
    events = [subscribe(customer, ago(days))]
    events += [event("usage", customer, ago(d), quantity=5) for d in range(1, days)]
    return events


async def rows(bind: Any, sql: str, tenant: TenantInfo) -> list[Any]:
    result = await bind.execute(text(sql), {"t": tenant.id})
    return list(result.all())


async def test_ingest_marks_and_the_scorer_materialises(
    client: httpx.AsyncClient, tenant: TenantInfo, conn: AsyncConnection, app: Any
) -> None:
    await post_batch(client, tenant.headers, engaged("a") + engaged("b"))
    dirty = await rows(conn, "SELECT customer_id FROM health_dirty WHERE tenant_id = :t", tenant)
    assert sorted(r.customer_id for r in dirty) == ["a", "b"]
    assert await rows(conn, "SELECT 1 FROM health_scores WHERE tenant_id = :t", tenant) == []

    await drain_scores(app)
    assert await rows(conn, "SELECT 1 FROM health_dirty WHERE tenant_id = :t", tenant) == []
    scores = await rows(
        conn, "SELECT customer_id, tier FROM health_scores WHERE tenant_id = :t", tenant
    )
    assert sorted((r.customer_id, r.tier) for r in scores) == [("a", "healthy"), ("b", "healthy")]

    # A duplicate changes nothing and marks nothing.
    await post_batch(client, tenant.headers, engaged("a"))
    assert await rows(conn, "SELECT 1 FROM health_dirty WHERE tenant_id = :t", tenant) == []


async def test_a_dirty_customer_is_scored_on_read(
    client: httpx.AsyncClient, tenant: TenantInfo, conn: AsyncConnection, app: Any
) -> None:
    await post_batch(client, tenant.headers, engaged("a") + engaged("b") + engaged("c"))
    await drain_scores(app)
    await post_batch(
        client,
        tenant.headers,
        [event("cancellation", c, ago(0.5), reason="unused") for c in ("a", "b", "c")],
    )
    response = await client.get("/v1/customers/a/health", headers=tenant.headers)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"
    lookup = await client.post(
        "/v1/health/lookup", json={"customer_ids": ["b"]}, headers=tenant.headers
    )
    assert lookup.status_code == 200, lookup.text

    # What the reads showed is materialised: the list agrees without waiting for the scorer.
    dirty = await rows(conn, "SELECT customer_id FROM health_dirty WHERE tenant_id = :t", tenant)
    assert [r.customer_id for r in dirty] == ["c"]
    listing = (await client.get("/v1/customers", headers=tenant.headers)).json()["items"]
    stored = {c["customer_id"]: c["tier"] for c in listing}
    assert stored["a"] == response.json()["tier"] != "healthy"
    assert stored["b"] == lookup.json()["results"][0]["tier"] != "healthy"
    assert stored["c"] == "healthy"  # not read, not drained yet: the last materialised score


async def _deliveries(committed: Committed, tenant: TenantInfo, kind: str) -> list[str]:
    async with committed.engine.connect() as conn:
        found = await conn.execute(
            text("SELECT payload FROM webhook_deliveries WHERE tenant_id = :t AND event_type = :k"),
            {"t": tenant.id, "k": kind},
        )
        return sorted(r.payload["data"]["customer_id"] for r in found)


async def test_concurrent_scorers_share_the_work_and_announce_each_tier_change_once(
    committed: Committed,
) -> None:
    tenant = await committed.tenant("scorers")
    customers = [f"c{i:03d}" for i in range(60)]
    async with committed.client() as client:
        hook = await client.post(
            "/v1/webhooks",
            json={"url": "http://127.0.0.1:9/hook", "event_types": ["health.tier_changed"]},
            headers=tenant.headers,
        )
        assert hook.status_code == 201, hook.text
        for i in range(0, len(customers), 10):
            await post_batch(
                client, tenant.headers, [e for c in customers[i : i + 10] for e in engaged(c)]
            )
        first = await drain_tenant(committed.database, tenant.id)
        assert first.scored == len(customers)

        leaving = customers[::2]
        await post_batch(
            client,
            tenant.headers,
            [event("cancellation", c, ago(0.5), reason="unused") for c in leaving],
        )

        # Five scorers (small batches, so they interleave) and readers of the same customers.
        async def read(customer: str) -> None:
            response = await client.get(f"/v1/customers/{customer}/health", headers=tenant.headers)
            assert response.status_code == 200, response.text

        results = await asyncio.gather(
            *(drain_tenant(committed.database, tenant.id, limit=3) for _ in range(5)),
            *(read(c) for c in leaving[::3]),
        )
    drains = results[:5]
    # Every mark is drained by exactly one scorer (readers score the rest): no double work.
    assert sum(d.scored for d in drains if d is not None) <= len(leaving)
    async with committed.engine.connect() as conn:
        assert await rows(conn, "SELECT 1 FROM health_dirty WHERE tenant_id = :t", tenant) == []
        tiers = await rows(
            conn, "SELECT customer_id, tier FROM health_scores WHERE tenant_id = :t", tenant
        )
    changed = sorted(r.customer_id for r in tiers if r.tier != "healthy")
    assert changed == leaving
    assert await _deliveries(committed, tenant, "health.tier_changed") == leaving


async def test_no_mark_is_lost_while_ingest_and_scorers_race(committed: Committed) -> None:
    tenant = await committed.tenant("race")
    customers = [f"r{i:02d}" for i in range(12)]
    rnd = random.Random(3)
    async with committed.client() as client:
        await post_batch(client, tenant.headers, [subscribe(c, ago(30)) for c in customers])

        async def ingest(worker: int) -> None:
            for n in range(8):
                batch = [
                    event("usage", rnd.choice(customers), ago(rnd.random() * 20), quantity=1)
                    for _ in range(15)
                ]
                if n == 7:
                    batch.append(event("cancellation", customers[worker], ago(0.1)))
                await post_batch(client, tenant.headers, batch)

        async def score() -> None:
            for _ in range(10):
                await drain_tenant(committed.database, tenant.id, limit=4)
                await asyncio.sleep(0)

        await asyncio.gather(*(ingest(w) for w in range(4)), score(), score())
        final = await drain_tenant(committed.database, tenant.id)
    async with committed.engine.connect() as conn:
        assert await rows(conn, "SELECT 1 FROM health_dirty WHERE tenant_id = :t", tenant) == []
        mismatched = await rows(
            conn,
            "SELECT h.customer_id FROM health_scores h JOIN customers c"
            " ON c.tenant_id = h.tenant_id AND c.customer_id = h.customer_id"
            " WHERE h.tenant_id = :t AND (h.status <> c.status OR h.computed_at < c.updated_at)",
            tenant,
        )
    # Every customer's stored score was computed after its last change and agrees with it.
    assert mismatched == [], (mismatched, final)


async def test_the_scorer_scores_now_and_trains_nothing(
    client: httpx.AsyncClient, tenant: TenantInfo, conn: AsyncConnection, app: Any
) -> None:
    """A drain scores the present with the tenant's current models: it never takes itself for
    an ``as_of`` in the past, which would train and store a model for that instant."""
    await post_batch(client, tenant.headers, engaged("a") + engaged("b"))
    await drain_scores(app)
    assert await rows(conn, "SELECT 1 FROM health_dirty WHERE tenant_id = :t", tenant) == []
    assert await rows(conn, "SELECT 1 FROM health_models WHERE tenant_id = :t", tenant) == []
