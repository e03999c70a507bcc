"""The periodic job: rescoring every customer, and abandoning flows nobody decided."""

from datetime import UTC, datetime, timedelta

import httpx
from fastapi import FastAPI

from app.scheduler import periodic_round
from tests.conftest import TenantInfo
from tests.factories import event, post_batch, subscribe


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
