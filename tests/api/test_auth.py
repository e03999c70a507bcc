import uuid

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.tenants import keys
from tests.conftest import TenantInfo, bearer, make_key

PROBLEM = "application/problem+json"


async def assert_401(response: httpx.Response) -> None:
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["status"] == 401


async def test_missing_key_is_401(client: httpx.AsyncClient) -> None:
    await assert_401(await client.get("/v1/api-keys"))


@pytest.mark.parametrize(
    "header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer not-a-key", "hf_abc", "Bearer hf_x_y"]
)
async def test_malformed_authorization_is_401(client: httpx.AsyncClient, header: str) -> None:
    await assert_401(await client.get("/v1/api-keys", headers={"Authorization": header}))


async def test_well_formed_but_unknown_key_is_401(client: httpx.AsyncClient) -> None:
    unknown = keys.generate_key().plaintext
    await assert_401(await client.get("/v1/api-keys", headers=bearer(unknown)))


async def test_right_prefix_wrong_secret_is_401(
    client: httpx.AsyncClient, tenant: TenantInfo
) -> None:
    forged = tenant.admin_key[:-4] + ("zzzz" if not tenant.admin_key.endswith("zzzz") else "yyyy")
    await assert_401(await client.get("/v1/api-keys", headers=bearer(forged)))


async def test_revoked_key_is_401_and_others_keep_working(
    client: httpx.AsyncClient, tenant: TenantInfo
) -> None:
    second = await make_key(client, tenant, "admin")
    listing = await client.get("/v1/api-keys", headers=bearer(second))
    assert listing.status_code == 200
    second_id = next(
        k["id"] for k in listing.json()["items"] if second.split("_")[1] == k["prefix"]
    )

    revoked = await client.delete(f"/v1/api-keys/{second_id}", headers=tenant.headers)
    assert revoked.status_code == 204
    await assert_401(await client.get("/v1/api-keys", headers=bearer(second)))
    assert (await client.get("/v1/api-keys", headers=tenant.headers)).status_code == 200
    # revoking again is harmless
    assert (
        await client.delete(f"/v1/api-keys/{second_id}", headers=tenant.headers)
    ).status_code == 204


@pytest.mark.parametrize("scopes", [["read"], ["events:write"], ["read", "events:write"]])
async def test_non_admin_keys_cannot_manage_keys(
    client: httpx.AsyncClient, tenant: TenantInfo, scopes: list[str]
) -> None:
    key = await make_key(client, tenant, *scopes)
    response = await client.post(
        "/v1/api-keys", json={"name": "escalate", "scopes": ["admin"]}, headers=bearer(key)
    )
    assert response.status_code == 403
    assert response.headers["content-type"] == PROBLEM
    assert "admin" in response.json()["detail"]


async def test_created_key_is_shown_once_and_listed_without_secret(
    client: httpx.AsyncClient, tenant: TenantInfo
) -> None:
    created = await client.post(
        "/v1/api-keys",
        json={"name": "billing", "scopes": ["read", "read"]},
        headers=tenant.headers,
    )
    assert created.status_code == 201
    body = created.json()
    assert body["scopes"] == ["read"]
    assert body["key"].startswith("hf_")
    listing = (await client.get("/v1/api-keys", headers=tenant.headers)).json()["items"]
    assert {k["name"] for k in listing} == {"initial admin key", "billing"}
    assert all("key" not in k for k in listing)
    assert body["key"] not in str(listing)


async def test_invalid_key_requests_are_422_with_field_paths(
    client: httpx.AsyncClient, tenant: TenantInfo
) -> None:
    response = await client.post(
        "/v1/api-keys",
        json={"name": "", "scopes": ["root"], "tenant_id": str(uuid.uuid4())},
        headers=tenant.headers,
    )
    assert response.status_code == 422
    locs = {tuple(e["loc"]) for e in response.json()["errors"]}
    assert ("body", "name") in locs
    assert ("body", "scopes", 0) in locs
    assert ("body", "tenant_id") in locs  # unknown fields are rejected, not ignored


async def test_one_tenant_cannot_see_or_revoke_another_tenants_keys(
    client: httpx.AsyncClient, tenant: TenantInfo, other_tenant: TenantInfo
) -> None:
    mine = (await client.get("/v1/api-keys", headers=tenant.headers)).json()["items"]
    theirs = (await client.get("/v1/api-keys", headers=other_tenant.headers)).json()["items"]
    assert {k["id"] for k in mine}.isdisjoint({k["id"] for k in theirs})

    response = await client.delete(f"/v1/api-keys/{mine[0]['id']}", headers=other_tenant.headers)
    assert response.status_code == 404
    unknown = await client.delete(f"/v1/api-keys/{uuid.uuid4()}", headers=other_tenant.headers)
    assert unknown.status_code == 404
    assert response.json()["title"] == unknown.json()["title"]
    assert (await client.get("/v1/api-keys", headers=tenant.headers)).status_code == 200


async def test_database_holds_no_key_in_clear(
    client: httpx.AsyncClient, tenant: TenantInfo, conn: AsyncConnection
) -> None:
    extra = await make_key(client, tenant, "read")
    dump = (await conn.execute(text("SELECT string_agg(k::text, '\n') FROM api_keys k"))).scalar()
    assert dump is not None
    for key in (tenant.admin_key, extra):
        secret = key.rsplit("_", 1)[1]
        assert key not in dump
        assert secret not in dump
        assert keys.hash_key(key) in dump


async def test_last_used_is_recorded(client: httpx.AsyncClient, tenant: TenantInfo) -> None:
    listing = (await client.get("/v1/api-keys", headers=tenant.headers)).json()["items"]
    assert listing[0]["last_used_at"] is not None
