"""Concurrent Segment batches that mix identify and track over the same customers, in different
orders, neither deadlock nor lose anything (committed data, one connection per request)."""

import asyncio
import base64
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text

from tests.conftest import Committed, make_key

WORKERS = 6
BATCHES = 5
CUSTOMERS = [f"cus_{i}" for i in range(12)]


def batch(worker: int, number: int, rnd: random.Random) -> list[dict[str, Any]]:
    when = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    # identified and tracked customers overlap only in part, in a different order every batch
    customers = rnd.sample(CUSTOMERS, 8)
    tracked = rnd.sample(CUSTOMERS, 8)
    messages: list[dict[str, Any]] = []
    for i, customer in enumerate(customers):
        messages.append(
            {
                "type": "identify",
                "userId": customer,
                "traits": {f"w{worker}": number},
                "messageId": f"id-{worker}-{number}-{i}",
                "timestamp": when,
            }
        )
        messages.append(
            {
                "type": "track",
                "userId": tracked[i],
                "event": "Clicked",
                "messageId": f"tr-{worker}-{number}-{i}",
                "timestamp": when,
            }
        )
    return messages


async def test_mixed_batches_in_parallel_all_succeed_and_count_once(committed: Committed) -> None:
    tenant = await committed.tenant("segment-concurrency")
    rnd = random.Random(11)
    plans = [[batch(w, n, rnd) for n in range(BATCHES)] for w in range(WORKERS)]
    async with committed.client() as client:
        key = await make_key(client, tenant, "events:write")
        auth = {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}

        async def run(batches: list[list[dict[str, Any]]]) -> list[int]:
            statuses = []
            for messages in batches:
                response = await client.post(
                    "/segment/v1/batch", json={"batch": messages}, headers=auth
                )
                statuses.append(response.status_code)
            return statuses

        results = await asyncio.wait_for(asyncio.gather(*(run(p) for p in plans)), timeout=120)
    assert {status for statuses in results for status in statuses} == {200}

    async with committed.engine.connect() as conn:
        events = await conn.scalar(
            text("SELECT count(*) FROM events WHERE tenant_id = :t"), {"t": tenant.id}
        )
        usage = await conn.scalar(
            text("SELECT sum(usage_events) FROM customers WHERE tenant_id = :t"), {"t": tenant.id}
        )
        traits = (
            await conn.execute(
                text("SELECT traits FROM customers WHERE tenant_id = :t"), {"t": tenant.id}
            )
        ).scalars()
        merged_keys = sum(len(t) for t in traits)
    assert events == usage == WORKERS * BATCHES * 8
    # every identify landed: each (customer, worker) pair seen at least once has its key
    expected_pairs = {
        (m["userId"], worker)
        for worker, batches in enumerate(plans)
        for messages in batches
        for m in messages
        if m["type"] == "identify"
    }
    assert merged_keys == len(expected_pairs)
