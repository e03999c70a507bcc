"""GDPR export and erasure, and the audit log that records them without the erased data."""

import asyncio
import hashlib
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.customers.dirty import mark as mark_dirty
from app.db import session_factory
from app.privacy.tables import customer_tables, unreviewed_json_columns
from app.signals.service import scan_signals
from app.webhooks import service as webhooks
from tests.conftest import Committed, TenantInfo, bearer, make_key
from tests.factories import at, drain_scores, event, post_batch, subscribe

PROBLEM = "application/problem+json"
SECRET_COMMENT = "my address is 1 Secret Lane"


async def seed_customer(
    client: httpx.AsyncClient, tenant: TenantInfo, customer: str, tag: str
) -> None:
    await post_batch(
        client,
        tenant.headers,
        [
            subscribe(customer, at(0), idempotency_key=f"{tag}-sub"),
            event("usage", customer, at(1), quantity=3, idempotency_key=f"{tag}-u1"),
            event("usage", customer, at(2), idempotency_key=f"{tag}-u2"),
            event("feedback", customer, at(3), nps=4, comment=f"{SECRET_COMMENT} ({tag})"),
        ],
    )
    flow = await client.post(
        f"/v1/customers/{customer}/cancellation-flows",
        json={"reason": "too_expensive", "comment": SECRET_COMMENT},
        headers=tenant.headers,
    )
    assert flow.status_code == 201, flow.text
    declined = await client.post(
        f"/v1/cancellation-flows/{flow.json()['flow_id']}/decline", json={}, headers=tenant.headers
    )
    assert declined.status_code == 200, declined.text
    await post_batch(
        client,
        tenant.headers,
        [
            event(
                "cancellation",
                customer,
                at(4),
                reason="too_expensive",
                comment=SECRET_COMMENT,
                idempotency_key=f"{tag}-cancel",
            ),
        ],
    )


async def webhook_about(
    client: httpx.AsyncClient, conn: AsyncConnection, tenant: TenantInfo, customers: list[str]
) -> None:
    created = await client.post(
        "/v1/webhooks",
        json={"url": "https://hooks.example.com/h", "event_types": ["customer.churned"]},
        headers=tenant.headers,
    )
    assert created.status_code == 201, created.text
    async with session_factory(conn)() as session, session.begin():
        for customer in customers:
            await webhooks.enqueue(
                session, tenant.id, "customer.churned", {"customer_id": customer, "mrr": 4900}
            )


async def counts_for(conn: AsyncConnection, tenant: TenantInfo, customer: str) -> dict[str, int]:
    out = {}
    for table in customer_tables():
        out[table.name] = await conn.scalar(
            text(f"SELECT count(*) FROM {table.name} WHERE tenant_id = :t AND customer_id = :c"),
            {"t": tenant.id, "c": customer},
        )
    out["webhook_deliveries"] = await conn.scalar(
        text(
            "SELECT count(*) FROM webhook_deliveries"
            " WHERE tenant_id = :t AND payload #>> '{data,customer_id}' = :c"
        ),
        {"t": tenant.id, "c": customer},
    )
    return out


@pytest.fixture
async def two_customers(
    client: httpx.AsyncClient, conn: AsyncConnection, tenant: TenantInfo, app: Any
) -> TenantInfo:
    await seed_customer(client, tenant, "cus_gone", "a")
    await seed_customer(client, tenant, "cus_kept", "b")
    # scored (health_scores, health_snapshots), then marked stale again (health_dirty)
    await drain_scores(app)
    async with session_factory(conn)() as session, session.begin():
        await mark_dirty(session, tenant.id, ["cus_gone", "cus_kept"], datetime.now(UTC))
    # a lifecycle signal about each: a day without usage after the last one, at(2)
    settings = await client.put(
        "/v1/settings/signals", json={"inactive": {"days": 1}}, headers=tenant.headers
    )
    assert settings.status_code == 200, settings.text
    async with session_factory(conn)() as session, session.begin():
        report = await scan_signals(session, tenant.id, now=datetime.fromisoformat(at(3.5)))
    assert report.inactive == 2
    await webhook_about(client, conn, tenant, ["cus_gone", "cus_kept"])
    return tenant


def test_every_json_column_is_classified_for_personal_data() -> None:
    assert unreviewed_json_columns() == []


def test_customer_tables_are_derived_from_the_models() -> None:
    names = {table.name for table in customer_tables()}
    assert {"customers", "events", "customer_status_changes", "usage_daily"} <= names
    assert "audit_log" not in names


async def test_export_returns_every_table_holding_the_customer(
    client: httpx.AsyncClient, conn: AsyncConnection, two_customers: TenantInfo
) -> None:
    tenant = two_customers
    response = await client.get("/v1/customers/cus_gone/export", headers=tenant.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["customer_id"] == "cus_gone"
    stored = await counts_for(conn, tenant, "cus_gone")
    assert {name: len(rows) for name, rows in body["tables"].items()} == stored
    assert all(stored.values()), stored  # the seed touches every table
    assert len(body["tables"]["events"]) == 6  # five posted, one recorded by the declined flow
    assert body["tables"]["customers"][0]["event_count"] == 6
    assert SECRET_COMMENT in response.text
    assert "cus_kept" not in response.text
    assert str(tenant.id) not in str(body["tables"]["customers"])


async def test_erasure_removes_the_customer_everywhere_and_nothing_else(
    client: httpx.AsyncClient, conn: AsyncConnection, two_customers: TenantInfo
) -> None:
    tenant = two_customers
    kept_before = (await client.get("/v1/customers/cus_kept/export", headers=tenant.headers)).json()
    expected = await counts_for(conn, tenant, "cus_gone")

    response = await client.delete("/v1/customers/cus_gone", headers=tenant.headers)
    assert response.status_code == 200, response.text
    erased = response.json()
    assert erased["rows"] == expected

    assert set((await counts_for(conn, tenant, "cus_gone")).values()) == {0}
    for path in ("/v1/customers/cus_gone", "/v1/customers/cus_gone/events"):
        gone = await client.get(path, headers=tenant.headers)
        assert gone.status_code == 404
        assert gone.headers["content-type"] == PROBLEM
    assert (
        await client.get("/v1/customers/cus_gone/export", headers=tenant.headers)
    ).status_code == 404
    assert (
        await client.delete("/v1/customers/cus_gone", headers=tenant.headers)
    ).status_code == 404

    kept_after = (await client.get("/v1/customers/cus_kept/export", headers=tenant.headers)).json()
    assert kept_after["tables"] == kept_before["tables"]


async def test_metrics_inputs_recompute_without_the_erased_customer(
    client: httpx.AsyncClient, conn: AsyncConnection, two_customers: TenantInfo
) -> None:
    tenant = two_customers
    churned = text(
        "SELECT count(DISTINCT customer_id) FROM customer_status_changes"
        " WHERE tenant_id = :t AND status = 'cancelled'"
    )
    assert await conn.scalar(churned, {"t": tenant.id}) == 2
    await client.delete("/v1/customers/cus_gone", headers=tenant.headers)
    assert await conn.scalar(churned, {"t": tenant.id}) == 1


async def test_audit_log_records_who_erased_and_when_without_the_data(
    client: httpx.AsyncClient, conn: AsyncConnection, two_customers: TenantInfo
) -> None:
    tenant = two_customers
    admin_id = (await client.get("/v1/api-keys", headers=tenant.headers)).json()["items"][0]["id"]
    erased = (await client.delete("/v1/customers/cus_gone", headers=tenant.headers)).json()

    page = (await client.get("/v1/audit-log", headers=tenant.headers)).json()
    entry = page["items"][0]
    assert entry["id"] == erased["audit_id"]
    assert entry["action"] == "customer.erased"
    assert entry["actor_key_id"] == admin_id
    assert entry["at"] == erased["erased_at"]
    assert entry["details"]["rows"] == erased["rows"]
    assert entry["target_hash"] == hashlib.sha256(f"{tenant.id}:cus_gone".encode()).hexdigest()

    dump = await conn.scalar(
        text("SELECT string_agg(a::text, '\n') FROM audit_log a WHERE tenant_id = :t"),
        {"t": tenant.id},
    )
    assert dump is not None
    for erased_value in ("cus_gone", SECRET_COMMENT, "too_expensive"):
        assert erased_value not in dump
        assert erased_value not in str(page)

    found = await client.get(
        "/v1/audit-log", params={"customer_id": "cus_gone"}, headers=tenant.headers
    )
    assert [e["id"] for e in found.json()["items"]] == [erased["audit_id"]]
    other = await client.get(
        "/v1/audit-log", params={"customer_id": "cus_kept"}, headers=tenant.headers
    )
    assert other.json()["items"] == []


async def test_exports_are_audited_too(
    client: httpx.AsyncClient, two_customers: TenantInfo
) -> None:
    tenant = two_customers
    await client.get("/v1/customers/cus_kept/export", headers=tenant.headers)
    page = (
        await client.get(
            "/v1/audit-log", params={"action": "customer.exported"}, headers=tenant.headers
        )
    ).json()
    assert len(page["items"]) == 1
    assert page["items"][0]["details"]["rows"]["events"] == 6


async def test_audit_log_pages_with_a_cursor(
    client: httpx.AsyncClient, two_customers: TenantInfo
) -> None:
    tenant = two_customers
    for _ in range(3):
        await client.get("/v1/customers/cus_kept/export", headers=tenant.headers)
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/v1/audit-log", params=params, headers=tenant.headers)).json()
        seen += [e["id"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 3
    bad = await client.get("/v1/audit-log", params={"cursor": "bm9wZQ"}, headers=tenant.headers)
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["loc"] == ["query", "cursor"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/customers/cus_gone/export"),
        ("DELETE", "/v1/customers/cus_gone"),
        ("GET", "/v1/audit-log"),
    ],
)
async def test_privacy_operations_need_an_admin_key(
    client: httpx.AsyncClient, two_customers: TenantInfo, method: str, path: str
) -> None:
    key = await make_key(client, two_customers, "read", "events:write")
    response = await client.request(method, path, headers=bearer(key))
    assert response.status_code == 403
    assert response.headers["content-type"] == PROBLEM
    assert (await client.get("/v1/customers/cus_gone", headers=bearer(key))).status_code == 200


async def test_unknown_customer_is_404_for_export_and_erasure(
    client: httpx.AsyncClient, tenant: TenantInfo
) -> None:
    unknown = f"cus_{uuid.uuid4().hex}"
    for method, path in (
        ("GET", f"/v1/customers/{unknown}/export"),
        ("DELETE", f"/v1/customers/{unknown}"),
    ):
        response = await client.request(method, path, headers=tenant.headers)
        assert response.status_code == 404
        assert response.json()["title"] == "Not found"
    assert (await client.get("/v1/audit-log", headers=tenant.headers)).json()["items"] == []


async def test_erasure_racing_ingest_leaves_counters_equal_to_a_recount(
    committed: Committed,
) -> None:
    tenant = await committed.tenant("erase-race")
    async with committed.client() as client:
        await post_batch(
            client,
            tenant.headers,
            [event("usage", "cus_race", at(0, i), idempotency_key=f"old-{i}") for i in range(50)],
        )

        async def ingest(n: int) -> None:
            await post_batch(
                client,
                tenant.headers,
                [
                    event("usage", "cus_race", at(1, i), quantity=2, idempotency_key=f"new-{n}-{i}")
                    for i in range(20)
                ],
            )

        erased, *_ = await asyncio.gather(
            client.delete("/v1/customers/cus_race", headers=tenant.headers),
            *(ingest(n) for n in range(6)),
        )
    assert erased.status_code == 200
    async with committed.engine.connect() as conn:
        stored = (
            await conn.execute(
                text(
                    "SELECT count(*) AS events, coalesce(sum(quantity), 0) AS quantity"
                    " FROM events WHERE tenant_id = :t AND customer_id = 'cus_race'"
                ),
                {"t": tenant.id},
            )
        ).one()
        customer = (
            await conn.execute(
                text(
                    "SELECT event_count, usage_quantity FROM customers"
                    " WHERE tenant_id = :t AND customer_id = 'cus_race'"
                ),
                {"t": tenant.id},
            )
        ).one_or_none()
        daily = await conn.scalar(
            text(
                "SELECT coalesce(sum(quantity), 0) FROM usage_daily"
                " WHERE tenant_id = :t AND customer_id = 'cus_race'"
            ),
            {"t": tenant.id},
        )
    assert erased.json()["rows"]["events"] + stored.events == 50 + 6 * 20
    if stored.events == 0:
        assert customer is None
    else:
        assert customer is not None
        assert (customer.event_count, customer.usage_quantity) == (stored.events, stored.quantity)
    assert daily == stored.quantity


async def test_the_export_shows_the_state_the_api_shows_not_the_stored_row(
    client: httpx.AsyncClient, tenant: TenantInfo, conn: AsyncConnection
) -> None:
    from datetime import UTC, datetime, timedelta

    soon = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    await client.post(
        "/v1/events/batch",
        json={
            "events": [
                subscribe("cus_due", at(0)),
                event("cancellation", "cus_due", at(1), reason="unused", effective_at=soon),
            ]
        },
        headers=tenant.headers,
    )
    # Time passes: the scheduled cancellation falls due with no event to re-fold the row.
    await conn.execute(
        text(
            "UPDATE customers SET cancel_effective_at = now() - interval '1 day'"
            " WHERE tenant_id = :t AND customer_id = 'cus_due'"
        ),
        {"t": tenant.id},
    )
    shown = (await client.get("/v1/customers/cus_due", headers=tenant.headers)).json()
    exported = (await client.get("/v1/customers/cus_due/export", headers=tenant.headers)).json()
    (row,) = exported["tables"]["customers"]
    assert shown["status"] == "cancelled"
    assert row["status"] == shown["status"]
    assert row["cancelled_at"] is not None
