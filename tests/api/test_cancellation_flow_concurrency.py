"""Concurrent calls on one customer's flow, on committed data through the real engine (one
connection per request), so the row locks and the one-open-flow index are exercised for real."""

from __future__ import annotations

import asyncio
from collections import Counter

from sqlalchemy import text

from tests.api.flow_helpers import set_up_catalog, subscribe_to_flow_webhooks, subscribers
from tests.conftest import Committed


async def test_concurrent_starts_and_decisions_make_one_flow_and_one_outcome(
    committed: Committed,
) -> None:
    tenant = await committed.tenant()
    async with committed.client() as client:
        await set_up_catalog(client, tenant)
        await subscribers(client, tenant, "cus_1")
        await subscribe_to_flow_webhooks(client, tenant)
        url = "/v1/customers/cus_1/cancellation-flows"
        starts = await asyncio.gather(
            *[
                client.post(url, json={"reason": "too_expensive"}, headers=tenant.headers)
                for _ in range(6)
            ]
        )
        assert sorted(r.status_code for r in starts) == [200, 200, 200, 200, 200, 201]
        assert len({r.json()["flow_id"] for r in starts}) == 1
        flow = starts[0].json()
        downgrade = next(o for o in flow["offers"] if o["kind"] == "downgrade")
        base = f"/v1/cancellation-flows/{flow['flow_id']}"
        decisions = await asyncio.gather(
            *[
                client.post(
                    f"{base}/accept",
                    json={"offer_id": downgrade["offer_id"]},
                    headers=tenant.headers,
                )
                for _ in range(3)
            ],
            *[client.post(f"{base}/decline", headers=tenant.headers) for _ in range(3)],
        )
        codes = Counter(r.status_code for r in decisions)
        assert codes == {200: 3, 409: 3}, [r.text for r in decisions]
        winner = next(r.json()["status"] for r in decisions if r.status_code == 200)
        assert all(r.json()["status"] == winner for r in decisions if r.status_code == 200)
        state = (await client.get("/v1/customers/cus_1", headers=tenant.headers)).json()
        assert state["status"] == ("active" if winner == "accepted" else "cancelled")
    async with committed.engine.connect() as conn:
        flows = await conn.scalar(
            text("SELECT count(*) FROM cancellation_flows WHERE tenant_id = :t"), {"t": tenant.id}
        )
        events = await conn.scalar(
            text("SELECT count(*) FROM events WHERE tenant_id = :t AND source = 'flow'"),
            {"t": tenant.id},
        )
        hooks = await conn.scalar(
            text(
                "SELECT count(*) FROM webhook_deliveries WHERE tenant_id = :t"
                " AND event_type = 'cancellation_flow.completed'"
            ),
            {"t": tenant.id},
        )
    assert (flows, events, hooks) == (1, 1, 1)
