from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db import session_factory
from app.plans import repository
from tests.conftest import Committed, TenantInfo, bearer, make_key

PRO = {"name": "Pro", "price": 4900, "currency": "USD"}


async def put(client: httpx.AsyncClient, who: TenantInfo, plan_id: str, **body: Any) -> Any:
    return await client.put(f"/v1/plans/{plan_id}", json={**PRO, **body}, headers=who.headers)


async def test_put_creates_then_replaces(client: httpx.AsyncClient, tenant: TenantInfo) -> None:
    created = await put(client, tenant, "pro")
    assert created.status_code == 201, created.text
    assert created.json() | {"created_at": None, "updated_at": None} == {
        "plan_id": "pro",
        "name": "Pro",
        "price": 4900,
        "currency": "USD",
        "active": True,
        "created_at": None,
        "updated_at": None,
    }
    replaced = await put(client, tenant, "pro", name="Pro (2027)", price=5900, active=False)
    assert replaced.status_code == 200, replaced.text
    body = replaced.json()
    assert (body["name"], body["price"], body["active"]) == ("Pro (2027)", 5900, False)
    assert body["created_at"] == created.json()["created_at"]
    listing = (await client.get("/v1/plans", headers=tenant.headers)).json()["items"]
    assert [(p["plan_id"], p["price"], p["active"]) for p in listing] == [("pro", 5900, False)]


async def test_list_is_cheapest_first(client: httpx.AsyncClient, tenant: TenantInfo) -> None:
    for plan_id, price in [("team", 9900), ("starter", 900), ("pro", 4900)]:
        assert (await put(client, tenant, plan_id, price=price)).status_code == 201
    listing = (await client.get("/v1/plans", headers=tenant.headers)).json()["items"]
    assert [p["plan_id"] for p in listing] == ["starter", "pro", "team"]


async def test_plan_ids_may_use_the_documented_characters(
    client: httpx.AsyncClient, tenant: TenantInfo
) -> None:
    plan_id = "Pro.monthly:v2@eu+tax|x=1-a_b"
    response = await put(client, tenant, plan_id)
    assert response.status_code == 201, response.text
    assert response.json()["plan_id"] == plan_id


@pytest.mark.parametrize(
    ("plan_id", "body", "loc"),
    [
        ("pro", {"price": -1}, ["body", "price"]),
        ("pro", {"price": 10**12 + 1}, ["body", "price"]),
        ("pro", {"price": 2**63}, ["body", "price"]),
        ("pro", {"price": 49.5}, ["body", "price"]),
        ("pro", {"price": "4900"}, ["body", "price"]),
        ("pro", {"active": "no"}, ["body", "active"]),
        ("pro", {"currency": "US"}, ["body", "currency"]),
        ("pro", {"currency": "usd1"}, ["body", "currency"]),
        ("pro", {"name": ""}, ["body", "name"]),
        ("pro", {"name": "a\x00b"}, ["body", "name"]),
        ("pro", {"name": "x" * 201}, ["body", "name"]),
        ("pro", {"tenant_id": "00000000-0000-0000-0000-000000000000"}, ["body", "tenant_id"]),
        ("pro%20plan", {}, ["path", "plan_id"]),
        ("x" * 201, {}, ["path", "plan_id"]),
        ("next_cheaper", {}, ["path", "plan_id"]),
    ],
)
async def test_invalid_plans_are_422_with_paths(
    client: httpx.AsyncClient,
    tenant: TenantInfo,
    plan_id: str,
    body: dict[str, Any],
    loc: list[str],
) -> None:
    response = await put(client, tenant, plan_id, **body)
    assert response.status_code == 422, response.text
    assert loc in [e["loc"] for e in response.json()["errors"]]
    assert (await client.get("/v1/plans", headers=tenant.headers)).json()["items"] == []


async def test_missing_fields_are_listed(client: httpx.AsyncClient, tenant: TenantInfo) -> None:
    response = await client.put("/v1/plans/pro", json={}, headers=tenant.headers)
    assert response.status_code == 422
    locs = [e["loc"] for e in response.json()["errors"]]
    assert ["body", "name"] in locs and ["body", "price"] in locs and ["body", "currency"] in locs


async def test_read_key_lists_but_cannot_write(
    client: httpx.AsyncClient, tenant: TenantInfo
) -> None:
    await put(client, tenant, "pro")
    reader = bearer(await make_key(client, tenant, "read"))
    assert (await client.get("/v1/plans", headers=reader)).status_code == 200
    denied = await client.put("/v1/plans/pro", json={**PRO, "price": 1}, headers=reader)
    assert denied.status_code == 403
    writer = bearer(await make_key(client, tenant, "events:write"))
    assert (await client.get("/v1/plans", headers=writer)).status_code == 403
    listing = (await client.get("/v1/plans", headers=tenant.headers)).json()["items"]
    assert listing[0]["price"] == 4900
    assert (await client.get("/v1/plans")).status_code == 401


async def test_tenants_have_separate_catalogs(
    client: httpx.AsyncClient, tenant: TenantInfo, other_tenant: TenantInfo
) -> None:
    await put(client, tenant, "pro")
    assert (await client.get("/v1/plans", headers=other_tenant.headers)).json()["items"] == []
    # the same plan id in another tenant is another plan
    theirs = await put(client, other_tenant, "pro", price=100)
    assert theirs.status_code == 201
    mine = (await client.get("/v1/plans", headers=tenant.headers)).json()["items"]
    assert [(p["plan_id"], p["price"]) for p in mine] == [("pro", 4900)]


async def test_plan_prices_for_ingestion(
    client: httpx.AsyncClient, tenant: TenantInfo, other_tenant: TenantInfo, conn: AsyncConnection
) -> None:
    await put(client, tenant, "pro")
    await put(client, tenant, "legacy", price=2900, currency="EUR", active=False)
    await put(client, other_tenant, "team", price=9900)
    async with session_factory(conn)() as session, session.begin():
        prices = await repository.plan_prices(session, tenant.id, ["pro", "legacy", "team", "x"])
        assert prices == {"pro": (4900, "USD"), "legacy": (2900, "EUR")}
        assert await repository.plan_prices(session, tenant.id, []) == {}
        catalog = await repository.plan_catalog(session, other_tenant.id)
        assert [(p.plan_id, p.price, p.active) for p in catalog] == [("team", 9900, True)]


async def test_concurrent_puts_of_a_new_plan_create_it_once(committed: Committed) -> None:
    tenant = await committed.tenant()
    async with committed.client() as client:
        responses = await asyncio.gather(
            *(
                client.put("/v1/plans/pro", json={**PRO, "price": 100 + i}, headers=tenant.headers)
                for i in range(8)
            )
        )
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200] * 7 + [201], [r.text for r in responses]
        listing = (await client.get("/v1/plans", headers=tenant.headers)).json()["items"]
    assert len(listing) == 1
    assert listing[0]["price"] in {100 + i for i in range(8)}
