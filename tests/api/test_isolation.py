"""Tenant isolation for every operation that takes an id in its path.

The operations come from the live OpenAPI document, so a new endpoint is covered the day it is
added: an operation with a path parameter and no recipe below fails the test until someone
writes one. For each operation, tenant A creates the object; tenant B then calls the operation
with A's ids and with ids nobody has, and must get the same 404 for both (reads and writes),
and A's object must be untouched.
"""

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import TenantInfo, bearer
from tests.factories import at, event, post_batch, subscribe

PROBLEM = "application/problem+json"
Params = dict[str, str]


@dataclass(frozen=True)
class Recipe:
    """How to make tenant A's object behind a path template.

    ``create`` returns the path parameters naming it; ``unknown`` names nothing; ``bodies`` is
    a valid request body per method (so B's write is refused for the id, not the payload);
    ``upserts`` are methods that create the object when it does not exist (a PUT by id): there
    B creates its own, and A's must stay as it was.
    """

    create: Callable[[httpx.AsyncClient, TenantInfo], Awaitable[Params]]
    unknown: Params
    bodies: dict[str, Any] = field(default_factory=dict)
    upserts: frozenset[str] = frozenset()


async def _customer(client: httpx.AsyncClient, tenant: TenantInfo) -> Params:
    await post_batch(
        client,
        tenant.headers,
        [subscribe("cus_iso", at(0)), event("usage", "cus_iso", at(1))],
    )
    return {"customer_id": "cus_iso"}


async def _api_key(client: httpx.AsyncClient, tenant: TenantInfo) -> Params:
    created = await client.post(
        "/v1/api-keys", json={"name": "iso", "scopes": ["read"]}, headers=tenant.headers
    )
    assert created.status_code == 201, created.text
    return {"key_id": created.json()["id"]}


async def _plan(client: httpx.AsyncClient, tenant: TenantInfo) -> Params:
    created = await client.put(
        "/v1/plans/plan_iso",
        json={"name": "Iso", "price": 1234, "currency": "EUR"},
        headers=tenant.headers,
    )
    assert created.status_code in (200, 201), created.text
    return {"plan_id": "plan_iso"}


async def _offer(client: httpx.AsyncClient, tenant: TenantInfo) -> Params:
    created = await client.post(
        "/v1/offers",
        json={"kind": "custom", "title": "Talk to us"},
        headers=tenant.headers,
    )
    assert created.status_code == 201, created.text
    return {"offer_id": created.json()["id"]}


async def _webhook(client: httpx.AsyncClient, tenant: TenantInfo) -> Params:
    created = await client.post(
        "/v1/webhooks",
        json={"url": "https://hooks.example.com/iso", "event_types": ["*"]},
        headers=tenant.headers,
    )
    assert created.status_code == 201, created.text
    return {"webhook_id": created.json()["id"]}


async def _flow(client: httpx.AsyncClient, tenant: TenantInfo) -> Params:
    await _customer(client, tenant)
    started = await client.post(
        "/v1/customers/cus_iso/cancellation-flows",
        json={"reason": "unused"},
        headers=tenant.headers,
    )
    assert started.status_code in (200, 201), started.text  # 200: the open flow, again
    return {"flow_id": started.json()["flow_id"]}


UNKNOWN_UUID = "00000000-0000-4000-8000-000000000000"

# Operations whose path names a tenant but that no API key opens: the billing webhooks are
# authenticated by the signature (Stripe, Paddle) or the credentials (Chargebee) of the tenant's
# own endpoint, and answer 400 to anything else (tests/integrations/test_stripe.py,
# test_paddle.py and test_chargebee.py prove a secret of one tenant opens nothing of another's,
# and that an unknown tenant looks the same as a bad signature).
SIGNATURE_AUTHENTICATED = {
    "/v1/integrations/stripe/webhook/{tenant_id}",
    "/v1/integrations/paddle/webhook/{tenant_id}",
    "/v1/integrations/chargebee/webhook/{tenant_id}",
}

RECIPES: dict[str, Recipe] = {
    "/v1/api-keys/{key_id}": Recipe(_api_key, {"key_id": UNKNOWN_UUID}),
    "/v1/customers/{customer_id}": Recipe(_customer, {"customer_id": "cus_nobody"}),
    "/v1/customers/{customer_id}/events": Recipe(_customer, {"customer_id": "cus_nobody"}),
    "/v1/customers/{customer_id}/export": Recipe(_customer, {"customer_id": "cus_nobody"}),
    "/v1/customers/{customer_id}/health": Recipe(_customer, {"customer_id": "cus_nobody"}),
    "/v1/customers/{customer_id}/health/history": Recipe(_customer, {"customer_id": "cus_nobody"}),
    "/v1/customers/{customer_id}/cancellation-flows": Recipe(
        _customer, {"customer_id": "cus_nobody"}, bodies={"post": {"reason": "too_expensive"}}
    ),
    "/v1/cancellation-flows/{flow_id}": Recipe(_flow, {"flow_id": UNKNOWN_UUID}),
    "/v1/cancellation-flows/{flow_id}/accept": Recipe(
        _flow, {"flow_id": UNKNOWN_UUID}, bodies={"post": {"offer_id": UNKNOWN_UUID}}
    ),
    "/v1/cancellation-flows/{flow_id}/decline": Recipe(
        _flow, {"flow_id": UNKNOWN_UUID}, bodies={"post": {}}
    ),
    "/v1/plans/{plan_id}": Recipe(
        _plan,
        {"plan_id": "plan_nobody"},
        bodies={"put": {"name": "Mine", "price": 1, "currency": "USD"}},
        upserts=frozenset({"put"}),
    ),
    "/v1/offers/{offer_id}": Recipe(
        _offer, {"offer_id": UNKNOWN_UUID}, bodies={"patch": {"title": "Hijacked"}}
    ),
    "/v1/webhooks/{webhook_id}": Recipe(
        _webhook,
        {"webhook_id": UNKNOWN_UUID},
        bodies={"patch": {"url": "https://attacker.example.com/steal"}},
    ),
    "/v1/webhooks/{webhook_id}/deliveries": Recipe(_webhook, {"webhook_id": UNKNOWN_UUID}),
    "/v1/webhooks/{webhook_id}/test": Recipe(_webhook, {"webhook_id": UNKNOWN_UUID}),
    "/v1/webhooks/{webhook_id}/rotate-secret": Recipe(
        _webhook, {"webhook_id": UNKNOWN_UUID}, bodies={"post": {}}
    ),
}

METHODS = ("get", "put", "post", "patch", "delete")


def operations_with_path_ids(app: FastAPI) -> list[tuple[str, str]]:
    out = []
    for path, item in app.openapi()["paths"].items():
        for method in METHODS:
            operation = item.get(method)
            has_path_id = operation and any(
                p["in"] == "path" for p in operation.get("parameters", [])
            )
            if has_path_id and path not in SIGNATURE_AUTHENTICATED:
                out.append((path, method))
    return sorted(out)


def fill(template: str, params: Params) -> str:
    return template.format(**params)


async def snapshot(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    """What A can read of its keys, plans, offers and webhooks."""
    parts = []
    for path in ("/v1/api-keys", "/v1/plans", "/v1/offers", "/v1/webhooks"):
        listing = await client.get(path, headers=headers)
        assert listing.status_code == 200, listing.text
        # A's own reads refresh its key's last_used_at; that is not B's doing.
        items = [
            {k: v for k, v in item.items() if k != "last_used_at"}
            for item in listing.json()["items"]
        ]
        parts.append(json.dumps(items, sort_keys=True))
    return "\n".join(parts)


def test_every_operation_with_a_path_id_has_a_recipe(app: FastAPI) -> None:
    operations = operations_with_path_ids(app)
    assert operations, "no operation takes a path id?"
    missing = sorted({path for path, _ in operations if path not in RECIPES})
    assert missing == [], f"add an isolation recipe for {missing}"


async def test_tenant_b_gets_the_unknown_id_404_for_tenant_a_objects(
    client: httpx.AsyncClient, app: FastAPI, tenant: TenantInfo, other_tenant: TenantInfo
) -> None:
    operations = operations_with_path_ids(app)
    created: dict[str, Params] = {}
    for path in sorted({p for p, _ in operations}):
        created[path] = await RECIPES[path].create(client, tenant)
    before = await snapshot(client, tenant.headers)
    exports_before = {
        path: (await client.get(fill(path, params), headers=tenant.headers)).text
        for path, params in created.items()
        if path.endswith("/export")
    }

    checked = 0
    for path, method in operations:
        recipe = RECIPES[path]
        body = recipe.bodies.get(method)
        kwargs: dict[str, Any] = {"json": body} if body is not None else {}
        theirs = await client.request(
            method.upper(), fill(path, created[path]), headers=other_tenant.headers, **kwargs
        )
        if method in recipe.upserts:
            # B addressed its own namespace and made its own object; A's must be unchanged.
            assert theirs.status_code in (200, 201), (method, path, theirs.text)
            continue
        unknown = await client.request(
            method.upper(), fill(path, recipe.unknown), headers=other_tenant.headers, **kwargs
        )
        for response in (theirs, unknown):
            assert response.status_code == 404, (method, path, response.status_code, response.text)
            assert response.headers["content-type"] == PROBLEM
        assert theirs.json()["type"] == unknown.json()["type"], (method, path)
        assert theirs.json()["title"] == unknown.json()["title"], (method, path)
        assert str(tenant.id) not in theirs.text
        checked += 1

    assert checked >= len(operations) - sum(len(r.upserts) for r in RECIPES.values())
    # Nothing B did reached A: every list and every export reads as before.
    assert await snapshot(client, tenant.headers) == before
    for path, text in exports_before.items():
        again = (await client.get(fill(path, created[path]), headers=tenant.headers)).json()
        original = httpx.Response(200, text=text).json()
        assert again["tables"] == original["tables"]
    plans = (await client.get("/v1/plans", headers=tenant.headers)).json()["items"]
    assert [(p["plan_id"], p["price"]) for p in plans if p["plan_id"] == "plan_iso"] == [
        ("plan_iso", 1234)
    ]


@pytest.mark.parametrize("path", ["/v1/customers/{customer_id}", "/v1/webhooks/{webhook_id}"])
async def test_tenant_b_errors_never_name_tenant_a(
    client: httpx.AsyncClient, tenant: TenantInfo, other_tenant: TenantInfo, path: str
) -> None:
    params = await RECIPES[path].create(client, tenant)
    response = await client.get(fill(path, params), headers=bearer(other_tenant.admin_key))
    assert response.status_code == 404
    assert str(tenant.id) not in response.text
