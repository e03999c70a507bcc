"""Shared set-up for the cancellation-flow tests: a plan catalog, subscribers, calls to the flow
API, and the service driven at a chosen instant (the 24 h expiry and keep windows are tested by
moving ``now``, never by sleeping)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db import session_factory
from app.offers.flows import service as flows
from tests.conftest import TenantInfo
from tests.factories import post_batch, subscribe

PLANS = {"basic": 1900, "pro": 4900, "team": 9900}
HOOK_URL = "https://hooks.example.com/holdfast"


async def set_up_catalog(client: httpx.AsyncClient, tenant: TenantInfo) -> None:
    for plan_id, price in PLANS.items():
        response = await client.put(
            f"/v1/plans/{plan_id}",
            json={"name": plan_id.title(), "price": price, "currency": "USD"},
            headers=tenant.headers,
        )
        assert response.status_code in (200, 201), response.text


async def subscribers(
    client: httpx.AsyncClient, tenant: TenantInfo, *customers: str, plan: str = "pro"
) -> None:
    body = await post_batch(
        client, tenant.headers, [subscribe(c, mrr=PLANS[plan], plan=plan) for c in customers]
    )
    assert body["accepted"] == len(customers), body


async def subscribe_to_flow_webhooks(client: httpx.AsyncClient, tenant: TenantInfo) -> None:
    response = await client.post(
        "/v1/webhooks",
        json={"url": HOOK_URL, "event_types": ["cancellation_flow.completed"]},
        headers=tenant.headers,
    )
    assert response.status_code == 201, response.text


async def start(
    client: httpx.AsyncClient,
    tenant: TenantInfo,
    customer: str = "cus_1",
    reason: str = "too_expensive",
    **body: Any,
) -> httpx.Response:
    return await client.post(
        f"/v1/customers/{customer}/cancellation-flows",
        json={"reason": reason, **body},
        headers=tenant.headers,
    )


async def started(
    client: httpx.AsyncClient,
    tenant: TenantInfo,
    customer: str = "cus_1",
    reason: str = "too_expensive",
    **body: Any,
) -> dict[str, Any]:
    response = await start(client, tenant, customer, reason, **body)
    assert response.status_code == 201, response.text
    flow: dict[str, Any] = response.json()
    return flow


def offer_of(flow: dict[str, Any], kind: str) -> dict[str, Any]:
    found = [o for o in flow["offers"] if o["kind"] == kind]
    assert found, (kind, flow["offers"])
    offer: dict[str, Any] = found[0]
    return offer


async def accept(
    client: httpx.AsyncClient, tenant: TenantInfo, flow_id: str, offer_id: str, **body: Any
) -> httpx.Response:
    return await client.post(
        f"/v1/cancellation-flows/{flow_id}/accept",
        json={"offer_id": offer_id, **body},
        headers=tenant.headers,
    )


async def decline(
    client: httpx.AsyncClient, tenant: TenantInfo, flow_id: str, **body: Any
) -> httpx.Response:
    return await client.post(
        f"/v1/cancellation-flows/{flow_id}/decline", json=body, headers=tenant.headers
    )


async def customer(
    client: httpx.AsyncClient, tenant: TenantInfo, customer_id: str = "cus_1"
) -> dict[str, Any]:
    response = await client.get(f"/v1/customers/{customer_id}", headers=tenant.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def status_changes(
    conn: AsyncConnection, tenant: TenantInfo, customer_id: str = "cus_1"
) -> list[dict[str, Any]]:
    rows = await conn.execute(
        text(
            "SELECT effective_at, kind, status, plan, mrr, previous_mrr, reason"
            " FROM customer_status_changes WHERE tenant_id = :t AND customer_id = :c"
            " ORDER BY effective_at, seq"
        ),
        {"t": tenant.id, "c": customer_id},
    )
    return [dict(r._mapping) for r in rows]


async def completed_webhooks(conn: AsyncConnection, tenant: TenantInfo) -> list[dict[str, Any]]:
    rows = await conn.execute(
        text(
            "SELECT payload FROM webhook_deliveries"
            " WHERE tenant_id = :t AND event_type = 'cancellation_flow.completed'"
            " ORDER BY created_at, id"
        ),
        {"t": tenant.id},
    )
    return [r.payload["data"] for r in rows]


def iso(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def start_at(
    conn: AsyncConnection,
    tenant: TenantInfo,
    customer_id: str,
    now: datetime,
    reason: str = "too_expensive",
) -> uuid.UUID:
    async with session_factory(conn)() as session, session.begin():
        result = await flows.start_flow(
            session, tenant.id, customer_id, reason=reason, comment=None, now=now
        )
        return result.flow.id


async def accept_at(
    conn: AsyncConnection,
    tenant: TenantInfo,
    flow_id: uuid.UUID,
    offer_id: uuid.UUID,
    now: datetime,
    months: int | None = None,
) -> None:
    async with session_factory(conn)() as session, session.begin():
        await flows.accept_offer(
            session, tenant.id, flow_id, offer_id=offer_id, months=months, now=now
        )


async def decline_at(
    conn: AsyncConnection, tenant: TenantInfo, flow_id: uuid.UUID, now: datetime
) -> None:
    async with session_factory(conn)() as session, session.begin():
        await flows.decline_flow(session, tenant.id, flow_id, effective_at=None, now=now)


async def shown_offer_ids(conn: AsyncConnection, tenant: TenantInfo, flow_id: uuid.UUID) -> Any:
    row = await conn.execute(
        text(
            "SELECT offers_shown, offers_withheld, variant FROM cancellation_flows"
            " WHERE tenant_id = :t AND id = :id"
        ),
        {"t": tenant.id, "id": flow_id},
    )
    return row.one()
