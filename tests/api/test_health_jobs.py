"""The periodic job: rescoring every customer, and abandoning flows nobody decided."""

import dataclasses
from datetime import UTC, datetime, timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.customers.repository import chunk_starts
from app.db import session_factory
from app.health import learning
from app.health.jobs import rescore_tenant
from app.health.scoring import score_batch
from app.health.settings import HealthSettings
from app.scheduler import periodic_round
from tests.conftest import Committed, TenantInfo
from tests.factories import event, post_batch, subscribe
from tests.health_history import write_history


async def test_the_periodic_round_scores_everyone_and_abandons_overdue_flows(
    client: httpx.AsyncClient, app: FastAPI, tenant: TenantInfo
) -> None:
    now = datetime.now(UTC)
    await post_batch(
        client,
        tenant.headers,
        [
            subscribe("a", (now - timedelta(days=40)).isoformat()),
            subscribe("b", (now - timedelta(days=40)).isoformat()),
            event("usage", "b", (now - timedelta(days=1)).isoformat()),
        ],
    )
    flow = (
        await client.post(
            "/v1/customers/a/cancellation-flows", json={"reason": "unused"}, headers=tenant.headers
        )
    ).json()
    early = await periodic_round(app.state.database, now=now + timedelta(hours=23))
    late = await periodic_round(app.state.database, now=now + timedelta(hours=25))
    assert early.customers >= 2 and early.flows_abandoned == 0
    assert late.flows_abandoned == 1
    again = await periodic_round(app.state.database, now=now + timedelta(hours=26))
    assert again.flows_abandoned == 0
    stored = (
        await client.get(f"/v1/cancellation-flows/{flow['flow_id']}", headers=tenant.headers)
    ).json()
    assert stored["status"] == "abandoned"


async def test_a_rescore_walks_every_customer_once_in_concurrent_ranges(
    committed: Committed,
) -> None:
    tenant = await committed.tenant()
    now = datetime.now(UTC)
    async with committed.database.sessionmaker() as session:
        assert await chunk_starts(session, tenant.id, 3) == []  # no customer yet
    assert (await rescore_tenant(committed.database, tenant.id, now=now)).customers == 0
    customers = [f"c{n:02d}" for n in range(11)]
    async with committed.client() as client:
        await post_batch(
            client,
            tenant.headers,
            [subscribe(c, (now - timedelta(days=30)).isoformat()) for c in customers],
        )
    async with committed.database.sessionmaker() as session:
        ranges = await chunk_starts(session, tenant.id, 3)
    # Ranges of 3 in id order, each starting where the last ended, the last open-ended.
    assert [(r.first, r.end) for r in ranges] == [
        ("c00", "c03"),
        ("c03", "c06"),
        ("c06", "c09"),
        ("c09", None),
    ]

    report = await rescore_tenant(committed.database, tenant.id, now=now, chunk=3, workers=3)
    assert report.customers == len(customers)
    async with committed.engine.connect() as conn:
        scored = (
            await conn.execute(
                text(
                    "SELECT customer_id FROM health_scores"
                    " WHERE tenant_id = :t ORDER BY customer_id"
                ),
                {"t": tenant.id},
            )
        ).all()
        snapshots = await conn.scalar(
            text("SELECT count(*) FROM health_snapshots WHERE tenant_id = :t AND day = :d"),
            {"t": tenant.id, "d": now.date()},
        )
    assert [r.customer_id for r in scored] == customers
    assert snapshots == len(customers)


async def test_brief_results_are_the_full_results_without_the_factors(
    conn: AsyncConnection, tenant: TenantInfo
) -> None:
    """What rescoring stores (score, tier, summary) equals what the full explanation says, for
    the expert model and the learned one."""
    now = datetime.now(UTC).replace(microsecond=0)
    await write_history(conn, tenant.id, now=now)
    async with session_factory(conn)() as session, session.begin():
        kinds = []
        for train in (False, True):
            if train:
                row = await learning.train_and_store(
                    session, tenant.id, now, HealthSettings(), now=now
                )
                assert row.active, row.reason
            batch = await score_batch(session, tenant.id, None, now=now)
            assert batch is not None
            kinds.append(batch.model.kind)
            briefs = batch.briefs()
            assert len(briefs) == len(batch.customer_ids) > 100
            summaries = set()
            for i, brief in enumerate(briefs):
                full = batch.result(i)
                assert brief == dataclasses.replace(full, factors=(), missing=())
                assert (brief.score, brief.tier, brief.summary) == (
                    full.score,
                    full.tier,
                    full.summary,
                )
                assert brief.factors == () and brief.missing == ()
                summaries.add(brief.summary)
            assert len(summaries) >= 2  # healthy and not: not one phrase for everyone
    assert kinds == ["expert", "learned"]
