"""Webhook endpoints through the API, and the outbox rows ``enqueue`` writes (per-test
transaction, rolled back; the worker is exercised in test_webhook_delivery.py)."""

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.config import Settings
from app.db import Database, session_factory
from app.main import create_app
from app.webhooks import service
from tests.conftest import TenantInfo, bearer, make_key

URL = "https://hooks.example.com/holdfast"


async def create_webhook(
    client: httpx.AsyncClient, tenant: TenantInfo, **overrides: Any
) -> dict[str, Any]:
    body = {"url": URL, "event_types": ["customer.churned"], **overrides}
    response = await client.post("/v1/webhooks", json=body, headers=tenant.headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def enqueue(conn: AsyncConnection, tenant_id: uuid.UUID, event_type: str) -> uuid.UUID:
    async with session_factory(conn)() as session, session.begin():
        return await service.enqueue(session, tenant_id, event_type, {"customer_id": "c-1"})


async def deliveries(conn: AsyncConnection, tenant_id: uuid.UUID) -> list[Any]:
    result = await conn.execute(
        text(
            "SELECT endpoint_id, event_id, event_type, status, payload FROM webhook_deliveries"
            " WHERE tenant_id = :t ORDER BY created_at"
        ),
        {"t": tenant_id},
    )
    return list(result.all())


async def test_created_endpoint_shows_its_secret_once(
    client: httpx.AsyncClient, tenant: TenantInfo
) -> None:
    created = await create_webhook(
        client,
        tenant,
        event_types=["health.tier_changed", "customer.churned", "customer.churned"],
        description="CRM sync",
    )
    assert created["secret"].startswith("whsec_")
    assert len(created["secret"]) > 40
    assert created["event_types"] == ["customer.churned", "health.tier_changed"]
    assert created["active"] is True
    assert created["description"] == "CRM sync"

    listing = await client.get("/v1/webhooks", headers=tenant.headers)
    assert listing.status_code == 200
    assert [w["id"] for w in listing.json()["items"]] == [created["id"]]
    one = await client.get(f"/v1/webhooks/{created['id']}", headers=tenant.headers)
    assert one.status_code == 200
    for response in (listing, one):
        assert created["secret"] not in response.text
        assert "secret" not in response.text


async def test_a_second_endpoint_gets_a_different_secret(
    client: httpx.AsyncClient, tenant: TenantInfo
) -> None:
    first = await create_webhook(client, tenant)
    second = await create_webhook(client, tenant, event_types=["*", "customer.churned"])
    assert first["secret"] != second["secret"]
    assert second["event_types"] == ["*"]


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"url": "ftp://example.com/x", "event_types": ["*"]}, ["body", "url"]),
        ({"url": "https://u:p@example.com/x", "event_types": ["*"]}, ["body", "url"]),
        ({"url": "not a url", "event_types": ["*"]}, ["body", "url"]),
        ({"url": "https://example.com/\u0000", "event_types": ["*"]}, ["body", "url"]),
        ({"url": "https://example.com/" + "a" * 2100, "event_types": ["*"]}, ["body", "url"]),
        ({"url": URL, "event_types": ["customer.exploded"]}, ["body", "event_types", 0]),
        ({"url": URL, "event_types": ["webhook.test"]}, ["body", "event_types", 0]),
        ({"url": URL, "event_types": []}, ["body", "event_types"]),
        ({"url": URL, "event_types": ["*"] * 51}, ["body", "event_types"]),
        ({"url": URL}, ["body", "event_types"]),
        ({"url": URL, "event_types": ["*"], "description": "a\u0000b"}, ["body", "description"]),
        ({"url": URL, "event_types": ["*"], "description": "x" * 501}, ["body", "description"]),
        ({"url": URL, "event_types": ["*"], "secret": "mine"}, ["body", "secret"]),
        ({"url": URL, "event_types": ["*"], "tenant_id": str(uuid.uuid4())}, ["body", "tenant_id"]),
    ],
)
async def test_invalid_endpoints_are_422_with_the_offending_field(
    client: httpx.AsyncClient, tenant: TenantInfo, body: dict[str, Any], loc: list[Any]
) -> None:
    response = await client.post("/v1/webhooks", json=body, headers=tenant.headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert loc in [e["loc"] for e in response.json()["errors"]]
    assert (await client.get("/v1/webhooks", headers=tenant.headers)).json()["items"] == []


async def test_private_urls_are_refused_when_the_setting_says_so(
    conn: AsyncConnection, engine: AsyncEngine, settings: Settings, tenant: TenantInfo
) -> None:
    strict = settings.model_copy(update={"allow_private_webhook_urls": False})
    app = create_app(strict, Database(engine, session_factory(conn)))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://holdfast.test") as c:
        for url in ("http://127.0.0.1:9/x", "http://localhost/x", "http://169.254.169.254/"):
            response = await c.post(
                "/v1/webhooks", json={"url": url, "event_types": ["*"]}, headers=tenant.headers
            )
            assert response.status_code == 422, url
            assert response.json()["errors"][0]["loc"] == ["body", "url"]
        public = await c.post(
            "/v1/webhooks", json={"url": URL, "event_types": ["*"]}, headers=tenant.headers
        )
        assert public.status_code == 201
        patched = await c.patch(
            f"/v1/webhooks/{public.json()['id']}",
            json={"url": "http://10.0.0.8/x"},
            headers=tenant.headers,
        )
        assert patched.status_code == 422


async def test_the_number_of_endpoints_is_bounded(
    client: httpx.AsyncClient, tenant: TenantInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "MAX_ENDPOINTS_PER_TENANT", 2)
    first = await create_webhook(client, tenant)
    await create_webhook(client, tenant)
    third = await client.post(
        "/v1/webhooks", json={"url": URL, "event_types": ["*"]}, headers=tenant.headers
    )
    assert third.status_code == 409
    assert (
        await client.delete(f"/v1/webhooks/{first['id']}", headers=tenant.headers)
    ).status_code == 204
    await create_webhook(client, tenant)


@pytest.mark.parametrize("scopes", [["read"], ["events:write"]])
async def test_webhooks_need_an_admin_key(
    client: httpx.AsyncClient, tenant: TenantInfo, scopes: list[str]
) -> None:
    created = await create_webhook(client, tenant)
    headers = bearer(await make_key(client, tenant, *scopes))
    webhook = f"/v1/webhooks/{created['id']}"
    calls = [
        client.post("/v1/webhooks", json={"url": URL, "event_types": ["*"]}, headers=headers),
        client.get("/v1/webhooks", headers=headers),
        client.get(webhook, headers=headers),
        client.patch(webhook, json={"active": False}, headers=headers),
        client.delete(webhook, headers=headers),
        client.get(f"{webhook}/deliveries", headers=headers),
        client.post(f"{webhook}/test", headers=headers),
    ]
    for call in calls:
        assert (await call).status_code == 403
    assert (await client.get("/v1/webhooks")).status_code == 401


async def test_another_tenant_gets_404_for_an_endpoint_and_its_deliveries(
    client: httpx.AsyncClient,
    conn: AsyncConnection,
    tenant: TenantInfo,
    other_tenant: TenantInfo,
) -> None:
    created = await create_webhook(client, tenant)
    await enqueue(conn, tenant.id, "customer.churned")
    webhook = f"/v1/webhooks/{created['id']}"
    theirs = other_tenant.headers
    assert (await client.get("/v1/webhooks", headers=theirs)).json()["items"] == []
    for response in [
        await client.get(webhook, headers=theirs),
        await client.patch(webhook, json={"url": "https://evil.example/"}, headers=theirs),
        await client.get(f"{webhook}/deliveries", headers=theirs),
        await client.post(f"{webhook}/test", headers=theirs),
        await client.delete(webhook, headers=theirs),
    ]:
        assert response.status_code == 404, response.text
        assert response.headers["content-type"] == "application/problem+json"

    mine = await client.get(webhook, headers=tenant.headers)
    assert mine.json()["url"] == URL
    log = (await client.get(f"{webhook}/deliveries", headers=tenant.headers)).json()["items"]
    assert [d["status"] for d in log] == ["pending"]
    # An event of the other tenant does not reach this tenant's endpoint.
    await enqueue(conn, other_tenant.id, "customer.churned")
    assert len(await deliveries(conn, tenant.id)) == 1
    assert await deliveries(conn, other_tenant.id) == []


async def test_unknown_and_malformed_ids(client: httpx.AsyncClient, tenant: TenantInfo) -> None:
    assert (
        await client.get(f"/v1/webhooks/{uuid.uuid4()}", headers=tenant.headers)
    ).status_code == 404
    assert (await client.get("/v1/webhooks/not-a-uuid", headers=tenant.headers)).status_code == 422


async def test_enqueue_fans_out_to_subscribed_active_endpoints_with_one_event_id(
    client: httpx.AsyncClient, conn: AsyncConnection, tenant: TenantInfo
) -> None:
    churn = await create_webhook(client, tenant, event_types=["customer.churned"])
    health = await create_webhook(client, tenant, event_types=["health.tier_changed"])
    everything = await create_webhook(client, tenant, event_types=["*"])
    paused = await create_webhook(client, tenant, event_types=["*"])
    gone = await create_webhook(client, tenant, event_types=["*"])
    await client.patch(
        f"/v1/webhooks/{paused['id']}", json={"active": False}, headers=tenant.headers
    )
    await client.delete(f"/v1/webhooks/{gone['id']}", headers=tenant.headers)

    event_id = await enqueue(conn, tenant.id, "customer.churned")
    rows = await deliveries(conn, tenant.id)
    assert {str(r.endpoint_id) for r in rows} == {churn["id"], everything["id"]}
    assert {r.event_id for r in rows} == {event_id}
    assert {r.status for r in rows} == {"pending"}
    payload = rows[0].payload
    assert payload == rows[1].payload
    assert payload["id"] == str(event_id)
    assert payload["type"] == "customer.churned"
    assert payload["tenant_id"] == str(tenant.id)
    assert payload["data"] == {"customer_id": "c-1"}
    assert payload["created_at"].endswith("+00:00")

    await enqueue(conn, tenant.id, "health.tier_changed")
    rows = await deliveries(conn, tenant.id)
    tier = [r for r in rows if r.event_type == "health.tier_changed"]
    assert {str(r.endpoint_id) for r in tier} == {health["id"], everything["id"]}


async def test_enqueue_renders_rich_values_and_refuses_unregistered_types(
    client: httpx.AsyncClient, conn: AsyncConnection, tenant: TenantInfo
) -> None:
    await create_webhook(client, tenant, event_types=["*"])
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    async with session_factory(conn)() as session, session.begin():
        await service.enqueue(
            session, tenant.id, "health.tier_changed", {"at": at, "ref": uuid.UUID(int=1), "n": 2}
        )
        with pytest.raises(ValueError, match="unregistered"):
            await service.enqueue(session, tenant.id, "customer.exploded", {})
    [row] = await deliveries(conn, tenant.id)
    assert row.payload["data"] == {
        "at": "2026-01-02T03:04:05Z",
        "ref": "00000000-0000-0000-0000-000000000001",
        "n": 2,
    }


async def test_update_endpoint(client: httpx.AsyncClient, tenant: TenantInfo) -> None:
    created = await create_webhook(client, tenant, description="old")
    path = f"/v1/webhooks/{created['id']}"
    response = await client.patch(
        path,
        json={"event_types": ["customer.reactivated"], "description": None, "active": False},
        headers=tenant.headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["event_types"] == ["customer.reactivated"]
    assert body["description"] is None
    assert body["active"] is False
    assert body["url"] == URL
    assert body["updated_at"] >= created["updated_at"]
    assert (await client.get(path, headers=tenant.headers)).json() == body

    for bad in (
        {"url": None},
        {"event_types": None},
        {"active": None},
        {"url": "ftp://x/"},
        {"event_types": ["nope"]},
        {"secret": "x"},
    ):
        assert (await client.patch(path, json=bad, headers=tenant.headers)).status_code == 422


async def test_delete_hides_the_endpoint_wipes_its_secret_and_cancels_pending(
    client: httpx.AsyncClient, conn: AsyncConnection, tenant: TenantInfo
) -> None:
    created = await create_webhook(client, tenant)
    await enqueue(conn, tenant.id, "customer.churned")
    path = f"/v1/webhooks/{created['id']}"
    assert (await client.delete(path, headers=tenant.headers)).status_code == 204
    assert (await client.get(path, headers=tenant.headers)).status_code == 404
    assert (await client.get(f"{path}/deliveries", headers=tenant.headers)).status_code == 404
    assert (await client.delete(path, headers=tenant.headers)).status_code == 404
    assert (await client.get("/v1/webhooks", headers=tenant.headers)).json()["items"] == []
    assert [r.status for r in await deliveries(conn, tenant.id)] == ["cancelled"]
    secret = await conn.scalar(
        text("SELECT secret FROM webhook_endpoints WHERE id = :id"), {"id": created["id"]}
    )
    assert secret is None
    # Later events do not reach it.
    await enqueue(conn, tenant.id, "customer.churned")
    assert len(await deliveries(conn, tenant.id)) == 1


async def test_delivery_log_is_paginated_newest_first(
    client: httpx.AsyncClient, conn: AsyncConnection, tenant: TenantInfo
) -> None:
    created = await create_webhook(client, tenant)
    event_ids = [await enqueue(conn, tenant.id, "customer.churned") for _ in range(5)]
    await conn.execute(
        text(
            "UPDATE webhook_deliveries SET status = 'delivered', next_attempt_at = NULL"
            " WHERE tenant_id = :t AND event_id = :e"
        ),
        {"t": tenant.id, "e": event_ids[1]},
    )
    path = f"/v1/webhooks/{created['id']}/deliveries"
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get(path, params=params, headers=tenant.headers)).json()
        pages += 1
        seen += [d["event_id"] for d in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == [str(e) for e in reversed(event_ids)]

    delivered = await client.get(path, params={"status": "delivered"}, headers=tenant.headers)
    assert [d["event_id"] for d in delivered.json()["items"]] == [str(event_ids[1])]
    assert delivered.json()["next_cursor"] is None
    item = delivered.json()["items"][0]
    assert item["payload"]["id"] == str(event_ids[1])
    assert item["endpoint_id"] == created["id"]

    for params in (
        {"limit": 0},
        {"limit": 201},
        {"status": "lost"},
        {"cursor": "bm90LWpzb24"},
        {"cursor": "!!"},
        {"cursor": "a" * 201},
        {"limit": 2**64},
    ):
        response = await client.get(path, params=params, headers=tenant.headers)
        assert response.status_code == 422, params


async def test_test_event_is_queued_for_that_endpoint_only(
    client: httpx.AsyncClient, conn: AsyncConnection, tenant: TenantInfo
) -> None:
    target = await create_webhook(client, tenant, event_types=["customer.churned"])
    await create_webhook(client, tenant, event_types=["*"])
    response = await client.post(f"/v1/webhooks/{target['id']}/test", headers=tenant.headers)
    assert response.status_code == 202
    body = response.json()
    assert body["event_type"] == "webhook.test"
    assert body["status"] == "pending"
    assert body["payload"]["data"]["endpoint_id"] == target["id"]
    rows = await deliveries(conn, tenant.id)
    assert [(str(r.endpoint_id), r.event_type) for r in rows] == [(target["id"], "webhook.test")]


async def test_openapi_documents_the_webhook_operations(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    operations = spec["paths"]["/v1/webhooks/{webhook_id}/deliveries"]["get"]
    assert {"401", "403", "404", "422"} <= set(operations["responses"])
    created = spec["components"]["schemas"]["WebhookCreated"]
    assert "secret" in created["properties"]
    assert "secret" not in spec["components"]["schemas"]["WebhookRead"]["properties"]
