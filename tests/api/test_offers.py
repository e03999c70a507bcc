from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db import session_factory
from app.offers import repository
from app.offers.rules import CustomerFacts, rank_offers
from app.plans import repository as plans
from tests.conftest import TenantInfo, bearer, make_key

DISCOUNT = {
    "kind": "discount",
    "title": "20% off",
    "description": "For two months.",
    "priority": 5,
    "params": {"percent": 20, "months": 2},
    "rules": [
        {"field": "reason", "op": "in", "values": ["too_expensive"]},
        {"field": "health_score", "op": ">=", "value": 40},
    ],
}


async def create(client: httpx.AsyncClient, who: TenantInfo, **body: Any) -> dict[str, Any]:
    response = await client.post("/v1/offers", json={**DISCOUNT, **body}, headers=who.headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def offers(client: httpx.AsyncClient, who: TenantInfo, query: str = "") -> list[Any]:
    response = await client.get(f"/v1/offers{query}", headers=who.headers)
    assert response.status_code == 200, response.text
    items: list[Any] = response.json()["items"]
    return items


async def test_a_new_tenant_has_the_default_offers(
    client: httpx.AsyncClient, tenant: TenantInfo
) -> None:
    by_kind = {o["kind"]: o for o in await offers(client, tenant)}
    assert set(by_kind) == {"pause", "downgrade", "discount", "custom"}
    assert all(o["active"] for o in by_kind.values())
    assert by_kind["pause"]["params"] == {"months": 3, "min_months": 1}
    assert by_kind["pause"]["rules"] == [
        {"field": "reason", "op": "in", "values": ["unused", "too_complex"]}
    ]
    assert by_kind["downgrade"]["params"] == {"target_plan_id": "next_cheaper"}
    assert by_kind["downgrade"]["rules"][0]["values"] == ["too_expensive"]
    assert by_kind["discount"]["params"] == {"percent": 25, "months": 3}
    assert {"field": "tenure_days", "op": ">=", "value": 183} in by_kind["discount"]["rules"]
    assert by_kind["custom"]["rules"][0]["values"] == ["missing_features"]
    assert by_kind["custom"]["title"] == "Tell us what's missing"


async def test_defaults_are_editable_and_deletable(
    client: httpx.AsyncClient, tenant: TenantInfo
) -> None:
    pause = next(o for o in await offers(client, tenant) if o["kind"] == "pause")
    edited = await client.patch(
        f"/v1/offers/{pause['id']}", json={"params": {"months": 6}}, headers=tenant.headers
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["params"] == {"months": 6, "min_months": 1}
    custom = next(o for o in await offers(client, tenant) if o["kind"] == "custom")
    deleted = await client.delete(f"/v1/offers/{custom['id']}", headers=tenant.headers)
    assert deleted.status_code == 204
    assert {o["kind"] for o in await offers(client, tenant)} == {"pause", "downgrade", "discount"}


@pytest.mark.parametrize(
    ("body", "params"),
    [
        ({"kind": "pause", "params": {"months": 2}}, {"months": 2, "min_months": 1}),
        ({"kind": "discount", "params": {"percent": 100, "months": 1}}, None),
        ({"kind": "downgrade", "params": {"target_plan_id": "next_cheaper"}}, None),
        (
            {"kind": "custom", "params": {"payload": {"url": "https://cal.test/x", "n": [1, 2.5]}}},
            None,
        ),
        ({"kind": "custom", "params": {}}, {"payload": {}}),
    ],
)
async def test_create_and_read_each_kind(
    client: httpx.AsyncClient,
    tenant: TenantInfo,
    body: dict[str, Any],
    params: dict[str, Any] | None,
) -> None:
    created = await create(client, tenant, **body, rules=[])
    assert created["kind"] == body["kind"]
    assert created["params"] == (params or body["params"])
    assert created["rules"] == []
    fetched = await client.get(f"/v1/offers/{created['id']}", headers=tenant.headers)
    assert fetched.status_code == 200
    assert fetched.json() == created
    assert created["id"] in {o["id"] for o in await offers(client, tenant)}


async def test_defaults_apply_to_omitted_fields(
    client: httpx.AsyncClient, tenant: TenantInfo
) -> None:
    response = await client.post(
        "/v1/offers", json={"kind": "custom", "title": "Talk to us"}, headers=tenant.headers
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["description"], body["priority"], body["active"]) == ("", 0, True)
    assert (body["params"], body["rules"]) == ({"payload": {}}, [])


async def test_downgrade_to_an_explicit_catalog_plan(
    client: httpx.AsyncClient, tenant: TenantInfo
) -> None:
    missing = await client.post(
        "/v1/offers",
        json={"kind": "downgrade", "title": "Go basic", "params": {"target_plan_id": "basic"}},
        headers=tenant.headers,
    )
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["loc"] == ["body", "downgrade", "params", "target_plan_id"]
    assert "basic" in missing.json()["detail"]
    plan = {"name": "Basic", "price": 900, "currency": "USD"}
    await client.put("/v1/plans/basic", json=plan, headers=tenant.headers)
    created = await create(client, tenant, kind="downgrade", params={"target_plan_id": "basic"})
    assert created["params"] == {"target_plan_id": "basic"}


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ({"kind": "refund"}, ["body"]),
        ({"kind": None}, ["body"]),
        ({"params": {"percent": 0, "months": 2}}, ["body", "discount", "params", "percent"]),
        ({"params": {"percent": "20", "months": 2}}, ["body", "discount", "params", "percent"]),
        ({"params": {"months": 3}}, ["body", "discount", "params", "percent"]),
        ({"title": ""}, ["body", "discount", "title"]),
        ({"title": "x" * 201}, ["body", "discount", "title"]),
        ({"title": "free\x00"}, ["body", "discount", "title"]),
        ({"description": "d" * 2001}, ["body", "discount", "description"]),
        ({"priority": 1001}, ["body", "discount", "priority"]),
        ({"priority": 2**63}, ["body", "discount", "priority"]),
        ({"active": "yes"}, ["body", "discount", "active"]),
        ({"priority": "5"}, ["body", "discount", "priority"]),
        ({"tenant_id": str(uuid.uuid4())}, ["body", "discount", "tenant_id"]),
        (
            {"rules": [{"field": "karma", "op": ">", "value": 1}]},
            ["body", "discount", "rules", 0],
        ),
        (
            {"rules": [{"field": "health_score", "op": ">=", "value": 400}]},
            ["body", "discount", "rules", 0, "health_score", "value"],
        ),
        (
            {"rules": [{"field": "reason", "op": "in", "values": []}]},
            ["body", "discount", "rules", 0, "reason", "values"],
        ),
        (
            {
                "kind": "custom",
                "params": {"payload": {"note": "\x00"}},
            },
            ["body", "custom", "params"],
        ),
        (
            {"kind": "custom", "params": {"payload": {"blob": "x" * 5000}}},
            ["body", "custom", "params"],
        ),
    ],
)
async def test_invalid_offers_are_422_with_paths(
    client: httpx.AsyncClient, tenant: TenantInfo, change: dict[str, Any], loc: list[Any]
) -> None:
    before = await offers(client, tenant)
    response = await client.post("/v1/offers", json={**DISCOUNT, **change}, headers=tenant.headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert loc in [e["loc"] for e in response.json()["errors"]], response.json()["errors"]
    assert await offers(client, tenant) == before


async def test_patch_changes_only_what_is_sent(
    client: httpx.AsyncClient, tenant: TenantInfo
) -> None:
    created = await create(client, tenant)
    response = await client.patch(
        f"/v1/offers/{created['id']}",
        json={"priority": 9, "active": False, "kind": "discount"},
        headers=tenant.headers,
    )
    assert response.status_code == 200, response.text
    patched = response.json()
    assert (patched["priority"], patched["active"]) == (9, False)
    unchanged = {k: v for k, v in created.items() if k not in {"priority", "active", "updated_at"}}
    assert {k: patched[k] for k in unchanged} == unchanged
    assert patched["updated_at"] > created["updated_at"]
    rules = [{"field": "has_active_discount", "op": "=", "value": False}]
    replaced = await client.patch(
        f"/v1/offers/{created['id']}",
        json={"rules": rules, "params": {"percent": 50, "months": 1}},
        headers=tenant.headers,
    )
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["rules"] == rules
    assert replaced.json()["params"] == {"percent": 50, "months": 1}
    fetched = await client.get(f"/v1/offers/{created['id']}", headers=tenant.headers)
    assert fetched.json() == replaced.json()


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ({"kind": "pause"}, ["body", "kind"]),
        ({"params": {"months": 3}}, ["body", "params", "percent"]),  # checked against discount
        ({"params": {"percent": 101, "months": 1}}, ["body", "params", "percent"]),
        ({"params": {"percent": 10, "months": 1, "x": 1}}, ["body", "params", "x"]),
        ({"title": None}, ["body", "title"]),
        ({"rules": None}, ["body", "rules"]),
        ({"priority": None}, ["body", "priority"]),
        (
            {"rules": [{"field": "mrr", "op": "<", "value": -5}]},
            ["body", "rules", 0, "mrr", "value"],
        ),
        ({"deleted_at": None}, ["body", "deleted_at"]),
    ],
)
async def test_invalid_patches_are_422_and_change_nothing(
    client: httpx.AsyncClient, tenant: TenantInfo, change: dict[str, Any], loc: list[Any]
) -> None:
    created = await create(client, tenant)
    response = await client.patch(
        f"/v1/offers/{created['id']}", json=change, headers=tenant.headers
    )
    assert response.status_code == 422, response.text
    assert loc in [e["loc"] for e in response.json()["errors"]], response.json()["errors"]
    fetched = await client.get(f"/v1/offers/{created['id']}", headers=tenant.headers)
    assert fetched.json() == created


async def test_patching_a_downgrade_to_an_unknown_plan_is_refused(
    client: httpx.AsyncClient, tenant: TenantInfo
) -> None:
    downgrade = next(o for o in await offers(client, tenant) if o["kind"] == "downgrade")
    response = await client.patch(
        f"/v1/offers/{downgrade['id']}",
        json={"params": {"target_plan_id": "platinum"}},
        headers=tenant.headers,
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "params", "target_plan_id"]


async def test_delete_hides_the_offer_but_keeps_its_record(
    client: httpx.AsyncClient, tenant: TenantInfo, conn: AsyncConnection
) -> None:
    created = await create(client, tenant)
    url = f"/v1/offers/{created['id']}"
    assert (await client.delete(url, headers=tenant.headers)).status_code == 204
    assert (await client.get(url, headers=tenant.headers)).status_code == 404
    assert (
        await client.patch(url, json={"priority": 1}, headers=tenant.headers)
    ).status_code == 404
    assert (await client.delete(url, headers=tenant.headers)).status_code == 404
    assert created["id"] not in {o["id"] for o in await offers(client, tenant)}
    row = (
        await conn.execute(
            text("SELECT kind, deleted_at FROM offers WHERE tenant_id = :t AND id = :i"),
            {"t": tenant.id, "i": uuid.UUID(created["id"])},
        )
    ).one()
    assert row.kind == "discount" and row.deleted_at is not None


async def test_unknown_and_malformed_ids(client: httpx.AsyncClient, tenant: TenantInfo) -> None:
    unknown = f"/v1/offers/{uuid.uuid4()}"
    assert (await client.get(unknown, headers=tenant.headers)).status_code == 404
    assert (await client.get("/v1/offers/not-a-uuid", headers=tenant.headers)).status_code == 422


async def test_list_filters(client: httpx.AsyncClient, tenant: TenantInfo) -> None:
    inactive = await create(client, tenant, active=False, priority=1000)
    assert [o["id"] for o in await offers(client, tenant, "?active=false")] == [inactive["id"]]
    assert inactive["id"] not in {o["id"] for o in await offers(client, tenant, "?active=true")}
    pauses = await offers(client, tenant, "?kind=pause")
    assert [o["kind"] for o in pauses] == ["pause"]
    everything = await offers(client, tenant)
    assert everything[0]["id"] == inactive["id"]  # highest priority first
    priorities = [o["priority"] for o in everything]
    assert priorities == sorted(priorities, reverse=True)
    bad = await client.get("/v1/offers?kind=refund", headers=tenant.headers)
    assert bad.status_code == 422


async def test_read_key_reads_but_cannot_write(
    client: httpx.AsyncClient, tenant: TenantInfo
) -> None:
    created = await create(client, tenant)
    url = f"/v1/offers/{created['id']}"
    reader = bearer(await make_key(client, tenant, "read"))
    assert (await client.get("/v1/offers", headers=reader)).status_code == 200
    assert (await client.get(url, headers=reader)).status_code == 200
    assert (await client.post("/v1/offers", json=DISCOUNT, headers=reader)).status_code == 403
    assert (await client.patch(url, json={"priority": 1}, headers=reader)).status_code == 403
    assert (await client.delete(url, headers=reader)).status_code == 403
    writer = bearer(await make_key(client, tenant, "events:write"))
    assert (await client.get(url, headers=writer)).status_code == 403
    assert (await client.get(url, headers=tenant.headers)).json() == created


async def test_another_tenant_gets_404_for_my_offers(
    client: httpx.AsyncClient, tenant: TenantInfo, other_tenant: TenantInfo
) -> None:
    mine = await create(client, tenant)
    url = f"/v1/offers/{mine['id']}"
    theirs = other_tenant.headers
    assert (await client.get(url, headers=theirs)).status_code == 404
    assert (await client.patch(url, json={"active": False}, headers=theirs)).status_code == 404
    assert (await client.delete(url, headers=theirs)).status_code == 404
    assert mine["id"] not in {o["id"] for o in await offers(client, other_tenant)}
    mine_ids = {o["id"] for o in await offers(client, tenant)}
    assert mine_ids.isdisjoint({o["id"] for o in await offers(client, other_tenant)})
    assert (await client.get(url, headers=tenant.headers)).json() == mine


async def test_offer_settings_defaults_put_and_validation(
    client: httpx.AsyncClient, tenant: TenantInfo, other_tenant: TenantInfo
) -> None:
    url = "/v1/settings/offers"
    initial = (await client.get(url, headers=tenant.headers)).json()
    assert initial == {"holdout_share_bp": 0, "keep_days": 30, "updated_at": None}
    stored = await client.put(
        url, json={"holdout_share_bp": 1000, "keep_days": 45}, headers=tenant.headers
    )
    assert stored.status_code == 200, stored.text
    assert (stored.json()["holdout_share_bp"], stored.json()["keep_days"]) == (1000, 45)
    assert (await client.get(url, headers=tenant.headers)).json() == stored.json()
    assert (await client.get(url, headers=other_tenant.headers)).json() == initial

    for bad, loc in [
        ({"holdout_share_bp": 2001}, ["body", "holdout_share_bp"]),
        ({"holdout_share_bp": -1}, ["body", "holdout_share_bp"]),
        ({"holdout_share_bp": 0.5}, ["body", "holdout_share_bp"]),
        ({"keep_days": 0}, ["body", "keep_days"]),
        ({"keep_days": 366}, ["body", "keep_days"]),
        ({"holdout_percent": 10}, ["body", "holdout_percent"]),
    ]:
        response = await client.put(url, json=bad, headers=tenant.headers)
        assert response.status_code == 422, bad
        assert loc in [e["loc"] for e in response.json()["errors"]], bad

    reader = bearer(await make_key(client, tenant, "read"))
    assert (await client.get(url, headers=reader)).json() == stored.json()
    assert (await client.put(url, json={}, headers=reader)).status_code == 403
    reset = await client.put(url, json={}, headers=tenant.headers)
    assert (reset.json()["holdout_share_bp"], reset.json()["keep_days"]) == (0, 30)


async def test_stored_offers_feed_the_ranking(
    client: httpx.AsyncClient, tenant: TenantInfo, other_tenant: TenantInfo, conn: AsyncConnection
) -> None:
    for plan_id, price in [("starter", 1900), ("pro", 4900)]:
        plan = {"name": plan_id, "price": price, "currency": "USD"}
        await client.put(f"/v1/plans/{plan_id}", json=plan, headers=tenant.headers)
    gone = await create(client, tenant, priority=100, rules=[])
    await client.delete(f"/v1/offers/{gone['id']}", headers=tenant.headers)
    await create(client, tenant, priority=100, rules=[], active=False)
    await create(client, other_tenant, priority=100, rules=[])
    async with session_factory(conn)() as session, session.begin():
        specs = await repository.offer_specs(session, tenant.id)
        catalog = await plans.plan_catalog(session, tenant.id)
    assert sorted(s.kind for s in specs) == ["custom", "discount", "downgrade", "pause"]
    facts = CustomerFacts(
        now=datetime.now(UTC), reason="too_expensive", plan="pro", mrr=4900, currency="usd"
    )
    ranked = rank_offers(specs, facts, catalog, {})
    assert [(r.offer.kind, r.params.get("target_plan_id")) for r in ranked] == [
        ("downgrade", "starter")
    ]


async def test_openapi_declares_the_statuses(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    expected = {
        ("/v1/plans/{plan_id}", "put"): {"200", "201", "401", "403", "422", "503"},
        ("/v1/plans", "get"): {"200", "401", "403"},
        ("/v1/offers", "post"): {"201", "401", "403", "422"},
        ("/v1/offers", "get"): {"200", "401", "403", "422"},
        ("/v1/offers/{offer_id}", "get"): {"200", "401", "403", "404", "422"},
        ("/v1/offers/{offer_id}", "patch"): {"200", "401", "403", "404", "422"},
        ("/v1/offers/{offer_id}", "delete"): {"204", "401", "403", "404", "422"},
        ("/v1/settings/offers", "get"): {"200", "401", "403"},
        ("/v1/settings/offers", "put"): {"200", "401", "403", "422"},
    }
    for (path, method), statuses in expected.items():
        declared = set(spec["paths"][path][method]["responses"])
        assert statuses <= declared, (path, method, statuses - declared)
    body = spec["paths"]["/v1/offers"]["post"]["requestBody"]["content"]["application/json"]
    assert set(body["schema"]["discriminator"]["mapping"]) == {
        "pause",
        "downgrade",
        "discount",
        "custom",
    }
