"""Concurrent batches against one customer lose no update and count every event once.

Runs on committed data through the real engine (separate connections per request), so the row
locks and unique indexes are exercised for real.
"""

import asyncio
import random
from typing import Any

import httpx
from sqlalchemy import text

from app.customers.fold import FoldEvent, fold_lifecycle
from tests.conftest import Committed
from tests.factories import at, event, subscribe

WORKERS = 8
EVENTS_PER_WORKER = 250
BATCH = 25


def worker_events(worker: int, rnd: random.Random) -> list[dict[str, Any]]:
    events = []
    for i in range(EVENTS_PER_WORKER):
        roll = rnd.random()
        if roll < 0.1:
            # shared keys: every worker sends these; each must be stored once
            n = rnd.randrange(20)
            events.append(
                event("usage", "hot", at(n % 10, n), quantity=7, idempotency_key=f"shared-{n}")
            )
        elif roll < 0.15:
            events.append(
                event(
                    "plan_change",
                    "hot",
                    at(rnd.randrange(60), worker),
                    plan=f"p{worker}",
                    mrr=1000 + 100 * worker,
                    idempotency_key=f"plan-{worker}-{i}",
                )
            )
        elif roll < 0.17:
            events.append(
                event(
                    "pause",
                    "hot",
                    at(rnd.randrange(60), worker),
                    idempotency_key=f"pause-{worker}-{i}",
                )
            )
        elif roll < 0.19:
            events.append(
                event(
                    "resume",
                    "hot",
                    at(rnd.randrange(60), worker),
                    idempotency_key=f"resume-{worker}-{i}",
                )
            )
        else:
            events.append(
                event(
                    "usage",
                    "hot",
                    at(rnd.randrange(60), rnd.randrange(24)),
                    quantity=rnd.randrange(1, 5),
                    idempotency_key=f"u-{worker}-{i}",
                )
            )
    return events


async def test_concurrent_batches_on_one_customer_match_a_recount(committed: Committed) -> None:
    tenant = await committed.tenant("concurrency")
    rnd = random.Random(7)
    plans = [worker_events(w, rnd) for w in range(WORKERS)]
    async with committed.client() as client:
        first = await client.post(
            "/v1/events",
            json=subscribe("hot", at(0), idempotency_key="start"),
            headers=tenant.headers,
        )
        assert first.status_code == 201

        async def run(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
            results = []
            for i in range(0, len(events), BATCH):
                response = await client.post(
                    "/v1/events/batch",
                    json={"events": events[i : i + BATCH]},
                    headers=tenant.headers,
                )
                assert response.status_code == 200, response.text
                results.append(response.json())
            return results

        outcomes = await asyncio.gather(*(run(p) for p in plans))
        customer = (await client.get("/v1/customers/hot", headers=tenant.headers)).json()

    accepted = sum(r["accepted"] for worker in outcomes for r in worker)
    rejected = sum(r["rejected"] for worker in outcomes for r in worker)
    assert rejected == 0
    unique_keys = {e["idempotency_key"] for p in plans for e in p} | {"start"}
    assert accepted + 1 == len(unique_keys)

    async with committed.engine.connect() as conn:
        recount = (
            await conn.execute(
                text("""
            SELECT count(*) AS events,
                   count(*) FILTER (WHERE type = 'usage') AS usage_events,
                   coalesce(sum(quantity) FILTER (WHERE type = 'usage'), 0) AS usage_quantity,
                   count(*) FILTER (WHERE type = 'purchase') AS purchases
            FROM events WHERE tenant_id = :t AND customer_id = 'hot'"""),
                {"t": tenant.id},
            )
        ).one()
        daily = await conn.scalar(
            text(
                "SELECT sum(quantity) FROM usage_daily WHERE tenant_id = :t AND customer_id = 'hot'"
            ),
            {"t": tenant.id},
        )
        stored_changes = (
            await conn.execute(
                text(
                    "SELECT effective_at, seq, kind, status, mrr FROM customer_status_changes"
                    " WHERE tenant_id = :t AND customer_id = 'hot' ORDER BY effective_at, seq"
                ),
                {"t": tenant.id},
            )
        ).all()
        raw = (
            await conn.execute(
                text(
                    "SELECT id, idempotency_key, type, occurred_at, amount, currency, plan, mrr,"
                    " quantity, reason, effective_at, resume_at, nps"
                    " FROM events WHERE tenant_id = :t"
                ),
                {"t": tenant.id},
            )
        ).all()

    assert recount.events == len(unique_keys)
    assert customer["counters"] == {
        "events": recount.events,
        "usage_events": recount.usage_events,
        "usage_quantity": recount.usage_quantity,
        "purchases": recount.purchases,
        "payment_failures": 0,
    }
    assert daily == recount.usage_quantity
    state, changes = fold_lifecycle(
        [
            FoldEvent(
                id=r.id,
                key=r.idempotency_key,
                type=r.type,
                occurred_at=r.occurred_at,
                amount=r.amount,
                currency=r.currency,
                plan=r.plan,
                mrr=r.mrr,
                quantity=r.quantity,
                reason=r.reason,
                effective_at=r.effective_at,
                resume_at=r.resume_at,
                nps=r.nps,
            )
            for r in raw
        ]
    )
    assert [(c.effective_at, c.seq, c.kind, c.status, c.mrr) for c in changes] == [
        tuple(r) for r in stored_changes
    ]
    assert (customer["status"], customer["plan"], customer["plan_mrr"]) == (
        state.status,
        state.plan,
        state.plan_mrr,
    )


async def test_the_same_key_from_concurrent_requests_is_stored_once(committed: Committed) -> None:
    tenant = await committed.tenant("race")
    payload = subscribe("racer", at(0), idempotency_key="same")
    conflicting = subscribe("racer", at(0), idempotency_key="same", mrr=1)

    async with committed.client() as client:

        async def post(body: dict[str, Any]) -> httpx.Response:
            return await client.post("/v1/events", json=body, headers=tenant.headers)

        responses = await asyncio.gather(
            *(post(payload if i % 2 else conflicting) for i in range(16))
        )
    codes = sorted(r.status_code for r in responses)
    assert codes.count(201) == 1
    assert all(code in (200, 201, 422) for code in codes)
    winner = next(r for r in responses if r.status_code == 201).json()["id"]
    assert all(r.json().get("id", r.json().get("event_id")) == winner for r in responses)
    async with committed.engine.connect() as conn:
        stored = await conn.scalar(
            text("SELECT count(*) FROM events WHERE tenant_id = :t"), {"t": tenant.id}
        )
    assert stored == 1
