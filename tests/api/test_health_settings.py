from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db import session_factory
from app.errors import NotFound
from app.health import service
from app.health.settings import HealthSettings
from app.models import HealthSettingsVersion
from tests.conftest import Committed, TenantInfo, bearer, make_key

PROBLEM = "application/problem+json"
URL = "/v1/settings/health"
DEFAULTS = HealthSettings().model_dump(mode="json")


async def put(client: httpx.AsyncClient, tenant: TenantInfo, body: Any) -> httpx.Response:
    return await client.put(URL, json=body, headers=tenant.headers)


async def test_defaults_are_version_0(client: httpx.AsyncClient, tenant: TenantInfo) -> None:
    reader = await make_key(client, tenant, "read")
    response = await client.get(URL, headers=bearer(reader))
    assert response.status_code == 200
    assert response.json() == {"version": 0, "settings": DEFAULTS, "updated_at": None}


async def test_each_put_stores_the_next_version(
    client: httpx.AsyncClient, tenant: TenantInfo
) -> None:
    first = await put(client, tenant, {"weights": {"sentiment": 0.5}, "tiers": {"healthy_min": 75}})
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["version"] == 1
    assert body["settings"]["weights"]["sentiment"] == 0.5
    assert body["settings"]["tiers"] == {"healthy_min": 75.0, "at_risk_min": 40.0}
    assert datetime.fromisoformat(body["updated_at"]).tzinfo is not None

    # PUT replaces the whole object: what the second one omits returns to its default
    second = await put(client, tenant, {"usage": {"recency_half_life_days": 3}})
    assert second.status_code == 200
    assert second.json()["version"] == 2
    current = (await client.get(URL, headers=tenant.headers)).json()
    assert current["version"] == 2
    assert current["settings"]["usage"]["recency_half_life_days"] == 3
    assert current["settings"]["weights"] == DEFAULTS["weights"]
    assert current["settings"]["tiers"] == DEFAULTS["tiers"]


async def test_every_version_is_kept_and_resolvable(
    client: httpx.AsyncClient, tenant: TenantInfo, conn: AsyncConnection
) -> None:
    for half_life in (2, 4, 8):
        response = await put(client, tenant, {"usage": {"recency_half_life_days": half_life}})
        assert response.status_code == 200
    async with session_factory(conn)() as session:
        version, current = await service.current_settings(session, tenant.id)
        assert (version, current.usage.recency_half_life_days) == (3, 8)
        older = await service.settings_at_version(session, tenant.id, 1)
        assert older.usage.recency_half_life_days == 2
        assert await service.settings_at_version(session, tenant.id, 0) == HealthSettings()
        with pytest.raises(NotFound):
            await service.settings_at_version(session, tenant.id, 4)
        stored = (
            await session.scalars(
                select(HealthSettingsVersion.version)
                .where(HealthSettingsVersion.tenant_id == tenant.id)
                .order_by(HealthSettingsVersion.version)
            )
        ).all()
        assert stored == [1, 2, 3]


async def test_the_key_that_stored_a_version_is_recorded(
    client: httpx.AsyncClient, tenant: TenantInfo, conn: AsyncConnection
) -> None:
    admin = await make_key(client, tenant, "admin")
    assert (await client.put(URL, json={}, headers=bearer(admin))).status_code == 200
    listing = (await client.get("/v1/api-keys", headers=tenant.headers)).json()["items"]
    admin_id = next(k["id"] for k in listing if admin.split("_")[1] == k["prefix"])
    async with session_factory(conn)() as session:
        row = await session.get(HealthSettingsVersion, (tenant.id, 1))
    assert row is not None
    assert str(row.updated_by_key_id) == admin_id


async def test_invalid_settings_are_422_with_field_paths(
    client: httpx.AsyncClient, tenant: TenantInfo
) -> None:
    response = await put(
        client,
        tenant,
        {
            "weights": {"tenure": -1, "popularity": 1},
            "usage": {"trend_recent_days": 28, "trend_baseline_days": 14},
            "tiers": {"healthy_min": 50, "at_risk_min": 60},
            "purchases": {"frequency_window_days": 10**20},
        },
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    locs = {tuple(e["loc"]) for e in response.json()["errors"]}
    assert locs == {
        ("body", "weights", "tenure"),
        ("body", "weights", "popularity"),
        ("body", "usage", "trend_baseline_days"),
        ("body", "tiers", "at_risk_min"),
        ("body", "purchases", "frequency_window_days"),
    }
    assert (await client.get(URL, headers=tenant.headers)).json()["version"] == 0


@pytest.mark.parametrize(
    "body",
    [None, [], "settings", {"weights": {name: 0 for name in DEFAULTS["weights"]}}],
)
async def test_malformed_bodies_are_422(
    client: httpx.AsyncClient, tenant: TenantInfo, body: Any
) -> None:
    response = await put(client, tenant, body)
    assert response.status_code == 422
    assert response.json()["errors"]


async def test_nan_and_infinity_are_422(client: httpx.AsyncClient, tenant: TenantInfo) -> None:
    for token in ("NaN", "Infinity"):
        response = await client.put(
            URL,
            content='{"weights": {"tenure": ' + token + "}}",
            headers={**tenant.headers, "Content-Type": "application/json"},
        )
        assert response.status_code == 422, token


@pytest.mark.parametrize("scopes", [["read"], ["events:write"], ["read", "events:write"]])
async def test_only_admin_keys_can_change_settings(
    client: httpx.AsyncClient, tenant: TenantInfo, scopes: list[str]
) -> None:
    key = await make_key(client, tenant, *scopes)
    response = await client.put(URL, json={}, headers=bearer(key))
    assert response.status_code == 403
    assert response.headers["content-type"] == PROBLEM
    assert (await client.get(URL, headers=tenant.headers)).json()["version"] == 0


async def test_reading_needs_the_read_scope(client: httpx.AsyncClient, tenant: TenantInfo) -> None:
    writer = await make_key(client, tenant, "events:write")
    assert (await client.get(URL, headers=bearer(writer))).status_code == 403
    assert (await client.get(URL)).status_code == 401
    assert (await client.put(URL, json={})).status_code == 401


async def test_tenants_see_and_number_only_their_own_settings(
    client: httpx.AsyncClient, tenant: TenantInfo, other_tenant: TenantInfo
) -> None:
    for _ in range(2):
        assert (await put(client, tenant, {"tiers": {"healthy_min": 90}})).status_code == 200
    theirs = (await client.get(URL, headers=other_tenant.headers)).json()
    assert theirs == {"version": 0, "settings": DEFAULTS, "updated_at": None}

    own = await put(client, other_tenant, {"tiers": {"healthy_min": 60}})
    assert own.json()["version"] == 1
    mine = (await client.get(URL, headers=tenant.headers)).json()
    assert (mine["version"], mine["settings"]["tiers"]["healthy_min"]) == (2, 90)


async def test_openapi_declares_the_problem_responses(client: httpx.AsyncClient) -> None:
    operations = (await client.get("/openapi.json")).json()["paths"][URL]
    assert {"401", "403", "422"} <= set(operations["put"]["responses"])
    assert {"401", "403"} <= set(operations["get"]["responses"])


async def test_concurrent_puts_get_distinct_versions(committed: Committed) -> None:
    tenant = await committed.tenant()
    async with committed.client() as client:
        responses = await asyncio.gather(
            *(
                client.put(URL, json={"tenure": {"midpoint_days": 10 + i}}, headers=tenant.headers)
                for i in range(8)
            )
        )
        assert [r.status_code for r in responses] == [200] * 8
        versions = sorted(r.json()["version"] for r in responses)
        assert versions == list(range(1, 9))
        latest = (await client.get(URL, headers=tenant.headers)).json()
    assert latest["version"] == 8
    winner = next(r.json() for r in responses if r.json()["version"] == 8)
    assert latest["settings"] == winner["settings"]


async def test_unknown_tenant_has_defaults(conn: AsyncConnection) -> None:
    async with session_factory(conn)() as session:
        version, settings = await service.current_settings(session, uuid.uuid4())
    assert (version, settings) == (0, HealthSettings())
