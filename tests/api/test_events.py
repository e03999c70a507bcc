"""POST /v1/events and /v1/events/batch: every type, every rejection, idempotency, isolation."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.conftest import TenantInfo, bearer, make_key
from tests.factories import at, event, post_batch, purchase, subscribe

ALL_TYPES = [
    purchase(plan="pro", mrr=4900),
    event("usage", quantity=3, feature="export"),
    event("usage"),
    event("cancellation", reason="too_expensive", comment="pricey", effective_at=at(30)),
    event("pause", resume_at=at(60), reason="holiday"),
    event("resume"),
    event("plan_change", plan="basic", mrr=1900),
    event("payment_failed", amount=4900, currency="EUR", reason="card_declined"),
    event("feedback", nps=7, comment="ok"),
    event("feedback", comment="only words"),
]


@pytest.mark.parametrize("payload", ALL_TYPES, ids=lambda p: p["type"])
async def test_every_event_type_is_accepted_and_stored(
    client: httpx.AsyncClient, tenant: TenantInfo, payload: dict[str, Any]
) -> None:
    response = await client.post("/v1/events", json=payload, headers=tenant.headers)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "accepted"
    timeline = (await client.get("/v1/customers/cus_1/events", headers=tenant.headers)).json()
    stored = timeline["items"][0]
    assert stored["id"] == body["id"]
    assert stored["type"] == payload["type"]
    for field in ("amount", "plan", "mrr", "reason", "comment", "nps", "feature"):
        if field in payload:
            assert stored[field] == payload[field]
    if "currency" in payload:
        assert stored["currency"] == payload["currency"].upper()


def issue_locs(response: httpx.Response) -> set[tuple[Any, ...]]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return {tuple(e["loc"]) for e in response.json()["errors"]}


NOW = datetime.now(UTC)
REJECTIONS: list[tuple[str, dict[str, Any], tuple[Any, ...]]] = [
    ("unknown type", event("refund"), ("body",)),
    ("missing type", {"customer_id": "c", "occurred_at": at()}, ("body",)),
    ("unknown field", event("usage", tenant_id="other"), ("body", "tenant_id")),
    ("naive time", event("usage", when="2026-01-01T00:00:00"), ("body", "occurred_at")),
    (
        "far future",
        event("usage", when=(NOW + timedelta(hours=25)).isoformat()),
        ("body", "occurred_at"),
    ),
    ("before 1970", event("usage", when="1969-12-31T23:59:59Z"), ("body", "occurred_at")),
    (
        "year 1 east of UTC",
        event("usage", when="0001-01-01T00:00:00+03:00"),
        ("body", "occurred_at"),
    ),
    (
        "year 9999 west of UTC",
        event("usage", when="9999-12-31T23:00:00-03:00"),
        ("body", "occurred_at"),
    ),
    ("NUL in text", event("feedback", comment="bad\u0000byte"), ("body", "comment")),
    (
        "NUL in properties",
        event("usage", properties={"k": "a\u0000"}),
        ("body", "properties"),
    ),
    (
        "NUL in properties key",
        event("usage", properties={"a\u0000": 1}),
        ("body", "properties"),
    ),
    ("huge integer", purchase(amount=2**64), ("body", "amount")),
    (
        "huge integer in properties",
        event("usage", properties={"n": 2**70}),
        ("body", "properties"),
    ),
    ("negative amount", purchase(amount=-1), ("body", "amount")),
    ("negative mrr", subscribe(mrr=-5), ("body", "mrr")),
    ("negative quantity", event("usage", quantity=-1), ("body", "quantity")),
    ("fractional amount", purchase(amount=10.5), ("body", "amount")),
    ("string amount", purchase(amount="100"), ("body", "amount")),
    ("bad currency", purchase(currency="dollars"), ("body", "currency")),
    ("nps out of range", event("feedback", nps=11), ("body", "nps")),
    ("empty feedback", event("feedback"), ("body",)),
    ("bad customer id", event("usage", customer="a/b"), ("body", "customer_id")),
    ("empty customer id", event("usage", customer=""), ("body", "customer_id")),
    ("long customer id", event("usage", customer="x" * 201), ("body", "customer_id")),
    (
        "effective before occurred",
        event("cancellation", when=at(5), effective_at=at(4)),
        ("body",),
    ),
    ("resume before pause", event("pause", when=at(5), resume_at=at(5)), ("body",)),
    ("plan change without plan", event("plan_change", mrr=100), ("body", "plan")),
    (
        "failed payment amount without currency",
        event("payment_failed", amount=5),
        ("body",),
    ),
    (
        "deep properties",
        event("usage", properties={"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {}}}}}}}}}),
        ("body", "properties"),
    ),
    (
        "big properties",
        event("usage", properties={"blob": "x" * 17000}),
        ("body", "properties"),
    ),
    (
        "key with spaces",
        event("usage", idempotency_key="has space"),
        ("body", "idempotency_key"),
    ),
    ("not an object", [1, 2], ("body",)),  # type: ignore[list-item]
]


@pytest.mark.parametrize(
    ("payload", "loc"),
    [(p, loc) for _, p, loc in REJECTIONS],
    ids=[name for name, _, _ in REJECTIONS],
)
async def test_invalid_events_are_422_with_field_paths(
    client: httpx.AsyncClient, tenant: TenantInfo, payload: Any, loc: tuple[Any, ...]
) -> None:
    response = await client.post("/v1/events", json=payload, headers=tenant.headers)
    assert loc in issue_locs(response)
    assert (await client.get("/v1/customers/cus_1", headers=tenant.headers)).status_code == 404


@pytest.mark.parametrize(
    ("payload", "loc"),
    [(p, loc) for _, p, loc in REJECTIONS],
    ids=[name for name, _, _ in REJECTIONS],
)
async def test_a_batch_rejects_the_same_items_with_the_same_paths(
    client: httpx.AsyncClient, tenant: TenantInfo, payload: Any, loc: tuple[Any, ...]
) -> None:
    # The item's errors are the single event's, under its place in the body; its neighbours
    # are kept.
    single = await client.post("/v1/events", json=payload, headers=tenant.headers)
    body = await post_batch(
        client,
        tenant.headers,
        [event("usage", idempotency_key="ok-1"), payload, event("usage", idempotency_key="ok-2")],
    )
    assert [r["status"] for r in body["results"]] == ["accepted", "rejected", "accepted"]
    item = body["results"][1]["errors"]
    assert (*loc[:1], "events", 1, *loc[1:]) in {tuple(e["loc"]) for e in item}
    assert item == [
        {**e, "loc": ["body", "events", 1, *e["loc"][1:]]} for e in single.json()["errors"]
    ]


@pytest.mark.parametrize(
    "properties", [b'{"x": NaN}', b'{"x": [1, Infinity]}', b'{"x": -Infinity}', b'{"x": 1e999}']
)
async def test_non_finite_numbers_are_rejected(
    client: httpx.AsyncClient, tenant: TenantInfo, properties: bytes
) -> None:
    usage = json.dumps(event("usage")).encode()[:-1] + b', "properties": ' + properties + b"}"
    headers = {**tenant.headers, "content-type": "application/json"}
    single = await client.post("/v1/events", content=usage, headers=headers)
    assert ("body", "properties") in issue_locs(single)
    batch = await client.post(
        "/v1/events/batch", content=b'{"events": [' + usage + b"]}", headers=headers
    )
    assert batch.status_code == 200, batch.text
    assert batch.json()["results"][0]["errors"][0]["loc"] == ["body", "events", 0, "properties"]


async def test_a_conflicting_key_in_a_batch_points_at_the_item_key(
    client: httpx.AsyncClient, tenant: TenantInfo
) -> None:
    await post_batch(client, tenant.headers, [event("usage", idempotency_key="k", quantity=1)])
    body = await post_batch(
        client,
        tenant.headers,
        [event("usage", idempotency_key="j"), event("usage", idempotency_key="k", quantity=2)],
    )
    assert body["results"][1]["errors"][0]["loc"] == ["body", "events", 1, "idempotency_key"]


async def test_unknown_cancellation_reason_lists_the_allowed_values(
    client: httpx.AsyncClient, tenant: TenantInfo
) -> None:
    response = await client.post(
        "/v1/events", json=event("cancellation", reason="meh"), headers=tenant.headers
    )
    assert ("body", "reason") in issue_locs(response)
    message = response.json()["errors"][0]["msg"]
    for reason in (
        "too_expensive",
        "unused",
        "missing_features",
        "switched_service",
        "customer_service",
        "low_quality",
        "too_complex",
        "other",
    ):
        assert reason in message


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b"",
        b'{"type": NaN}',
        b"[" * 100_000 + b"]" * 100_000,
        b'{"events": [' + b"\xff" + b"]}",
    ],
)
async def test_unparsable_bodies_are_422_not_500(
    client: httpx.AsyncClient, tenant: TenantInfo, raw: bytes
) -> None:
    for path in ("/v1/events", "/v1/events/batch"):
        response = await client.post(
            path, content=raw, headers={**tenant.headers, "content-type": "application/json"}
        )
        assert response.status_code == 422, (path, response.text)
        assert response.json()["errors"][0]["loc"][0] == "body"


async def test_oversized_body_is_413(client: httpx.AsyncClient, tenant: TenantInfo) -> None:
    items = [event("usage", properties={"pad": "x" * 15000}) for _ in range(400)]
    body = json.dumps({"events": items})
    assert len(body) > 5 * 1024 * 1024
    response = await client.post(
        "/v1/events/batch",
        content=body,
        headers={**tenant.headers, "content-type": "application/json"},
    )
    assert response.status_code == 413


@pytest.mark.parametrize("events", [[], [event("usage")] * 1001])
async def test_batch_size_is_bounded(
    client: httpx.AsyncClient, tenant: TenantInfo, events: list[Any]
) -> None:
    response = await client.post(
        "/v1/events/batch", json={"events": events}, headers=tenant.headers
    )
    assert ("body", "events") in issue_locs(response)


async def test_batch_envelope_rejects_unknown_fields(
    client: httpx.AsyncClient, tenant: TenantInfo
) -> None:
    response = await client.post(
        "/v1/events/batch", json={"events": [event("usage")], "x": 1}, headers=tenant.headers
    )
    assert ("body", "x") in issue_locs(response)


async def test_batch_keeps_valid_items_and_reports_each(
    client: httpx.AsyncClient, tenant: TenantInfo
) -> None:
    body = await post_batch(
        client,
        tenant.headers,
        [
            event("usage", idempotency_key="u1"),
            event("usage", quantity=-1),
            "not an object",
            subscribe(idempotency_key="s1"),
            event("bogus"),
        ],
    )
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (2, 0, 3)
    statuses = [(r["index"], r["status"]) for r in body["results"]]
    assert statuses == [
        (0, "accepted"),
        (1, "rejected"),
        (2, "rejected"),
        (3, "accepted"),
        (4, "rejected"),
    ]
    assert body["results"][1]["errors"][0]["loc"] == ["body", "events", 1, "quantity"]
    customer = (await client.get("/v1/customers/cus_1", headers=tenant.headers)).json()
    assert customer["counters"]["events"] == 2
    assert customer["status"] == "active"


async def test_repeat_with_same_key_and_content_is_a_duplicate_that_changes_nothing(
    client: httpx.AsyncClient, tenant: TenantInfo
) -> None:
    payload = subscribe(idempotency_key="order-1")
    first = await client.post("/v1/events", json=payload, headers=tenant.headers)
    before = (await client.get("/v1/customers/cus_1", headers=tenant.headers)).json()
    again = await client.post("/v1/events", json=payload, headers=tenant.headers)
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json() == {"id": first.json()["id"], "status": "duplicate"}
    after = (await client.get("/v1/customers/cus_1", headers=tenant.headers)).json()
    assert {**after, "as_of": None} == {**before, "as_of": None}


async def test_same_instant_in_another_offset_is_the_same_content(
    client: httpx.AsyncClient, tenant: TenantInfo
) -> None:
    first = await client.post(
        "/v1/events",
        json=event("usage", when="2026-01-01T01:00:00+01:00", idempotency_key="k"),
        headers=tenant.headers,
    )
    again = await client.post(
        "/v1/events",
        json=event("usage", when="2026-01-01T00:00:00Z", idempotency_key="k"),
        headers=tenant.headers,
    )
    assert (first.status_code, again.status_code) == (201, 200)


async def test_same_key_different_content_is_a_conflict_that_changes_nothing(
    client: httpx.AsyncClient, tenant: TenantInfo
) -> None:
    first = await client.post(
        "/v1/events", json=subscribe(idempotency_key="order-1"), headers=tenant.headers
    )
    conflict = await client.post(
        "/v1/events", json=subscribe(idempotency_key="order-1", mrr=9900), headers=tenant.headers
    )
    assert conflict.status_code == 422
    problem = conflict.json()
    assert problem["type"].endswith("/idempotency-conflict")
    assert problem["event_id"] == first.json()["id"]
    customer = (await client.get("/v1/customers/cus_1", headers=tenant.headers)).json()
    assert customer["mrr"] == 4900
    assert customer["counters"]["events"] == 1


async def test_key_repeated_inside_a_batch_first_wins(
    client: httpx.AsyncClient, tenant: TenantInfo
) -> None:
    body = await post_batch(
        client,
        tenant.headers,
        [
            event("usage", idempotency_key="dup", quantity=1),
            event("usage", idempotency_key="dup", quantity=1),
            event("usage", idempotency_key="dup", quantity=5),
        ],
    )
    assert [r["status"] for r in body["results"]] == ["accepted", "duplicate", "rejected"]
    assert body["results"][1]["id"] == body["results"][0]["id"]
    assert body["results"][2]["errors"][0]["type"] == "idempotency_conflict"
    customer = (await client.get("/v1/customers/cus_1", headers=tenant.headers)).json()
    assert customer["counters"]["usage_quantity"] == 1


async def test_batch_replayed_reports_duplicates_and_conflicts(
    client: httpx.AsyncClient, tenant: TenantInfo
) -> None:
    events = [event("usage", idempotency_key=f"e{i}") for i in range(5)]
    first = await post_batch(client, tenant.headers, events)
    events[2] = event("usage", idempotency_key="e2", quantity=9)
    again = await post_batch(client, tenant.headers, events)
    assert first["accepted"] == 5
    assert (again["accepted"], again["duplicates"], again["rejected"]) == (0, 4, 1)
    assert [r["id"] for r in again["results"] if r["status"] == "duplicate"] == [
        r["id"] for i, r in enumerate(first["results"]) if i != 2
    ]


async def test_without_a_key_a_naive_retry_is_counted_once(
    client: httpx.AsyncClient, tenant: TenantInfo
) -> None:
    payload = event("usage", quantity=2)
    first = await client.post("/v1/events", json=payload, headers=tenant.headers)
    retry = await client.post("/v1/events", json=payload, headers=tenant.headers)
    other = await client.post("/v1/events", json=event("usage", quantity=3), headers=tenant.headers)
    assert (first.status_code, retry.status_code, other.status_code) == (201, 200, 201)
    assert retry.json()["id"] == first.json()["id"]
    customer = (await client.get("/v1/customers/cus_1", headers=tenant.headers)).json()
    assert customer["counters"]["usage_quantity"] == 5


async def test_received_at_is_recorded_and_occurred_at_stored_in_utc(
    client: httpx.AsyncClient, tenant: TenantInfo, conn: AsyncConnection
) -> None:
    await client.post(
        "/v1/events", json=event("usage", when="2026-03-01T09:30:00-05:00"), headers=tenant.headers
    )
    row = (
        await conn.execute(
            text("SELECT occurred_at, received_at FROM events WHERE tenant_id = :t"),
            {"t": tenant.id},
        )
    ).one()
    assert row.occurred_at == datetime(2026, 3, 1, 14, 30, tzinfo=UTC)
    assert abs((row.received_at - datetime.now(UTC)).total_seconds()) < 60


async def test_backfilled_events_far_in_the_past_are_accepted(
    client: httpx.AsyncClient, tenant: TenantInfo
) -> None:
    response = await client.post(
        "/v1/events", json=event("usage", when="1999-01-01T00:00:00Z"), headers=tenant.headers
    )
    assert response.status_code == 201


async def test_scopes_for_ingest(client: httpx.AsyncClient, tenant: TenantInfo) -> None:
    writer = await make_key(client, tenant, "events:write")
    reader = await make_key(client, tenant, "read")
    assert (
        await client.post("/v1/events", json=event("usage"), headers=bearer(writer))
    ).status_code == 201
    assert (
        await client.post("/v1/events", json=event("usage", quantity=2), headers=bearer(reader))
    ).status_code == 403
    assert (await client.get("/v1/customers/cus_1", headers=bearer(writer))).status_code == 403
    assert (await client.get("/v1/customers/cus_1", headers=bearer(reader))).status_code == 200
    assert (await client.post("/v1/events", json=event("usage"))).status_code == 401


async def test_tenants_are_isolated(
    client: httpx.AsyncClient, tenant: TenantInfo, other_tenant: TenantInfo
) -> None:
    payload = subscribe(idempotency_key="shared-key")
    assert (
        await client.post("/v1/events", json=payload, headers=tenant.headers)
    ).status_code == 201
    # the same key in another tenant is a different event
    assert (
        await client.post(
            "/v1/events", json={**payload, "mrr": 100, "amount": 100}, headers=other_tenant.headers
        )
    ).status_code == 201
    mine = (await client.get("/v1/customers/cus_1", headers=tenant.headers)).json()
    theirs = (await client.get("/v1/customers/cus_1", headers=other_tenant.headers)).json()
    assert (mine["mrr"], theirs["mrr"]) == (4900, 100)
    await client.post("/v1/events", json=subscribe("only_a"), headers=tenant.headers)
    assert (
        await client.get("/v1/customers/only_a", headers=other_tenant.headers)
    ).status_code == 404
    assert (
        await client.get("/v1/customers/only_a/events", headers=other_tenant.headers)
    ).status_code == 404
    timeline = (await client.get("/v1/customers/cus_1/events", headers=other_tenant.headers)).json()
    assert [e["mrr"] for e in timeline["items"]] == [100]


async def test_openapi_documents_the_event_union(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    body = spec["paths"]["/v1/events/batch"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["$ref"] == "#/components/schemas/EventBatchIn"
    union = spec["components"]["schemas"]["EventIn"]
    assert len(union["oneOf"]) == 8
    for name in ("PurchaseEvent", "CancellationEvent", "EventBatchIn", "Problem"):
        assert name in spec["components"]["schemas"]


async def test_catalog_plans_price_purchases_and_plan_changes_without_mrr(
    client: httpx.AsyncClient, tenant: TenantInfo
) -> None:
    for plan_id, price in (("basic", 1900), ("team", 9900)):
        response = await client.put(
            f"/v1/plans/{plan_id}",
            json={"name": plan_id, "price": price, "currency": "USD"},
            headers=tenant.headers,
        )
        assert response.status_code in (200, 201), response.text
    body = await post_batch(
        client,
        tenant.headers,
        [
            purchase("a", at(0), amount=1900, plan="basic"),
            event("plan_change", "a", at(5), plan="team"),
            event("plan_change", "a", at(6), plan="nowhere"),
        ],
    )
    assert [r["status"] for r in body["results"]] == ["accepted", "accepted", "rejected"]
    assert body["results"][2]["errors"][0]["loc"] == ["body", "events", 2, "mrr"]
    customer = (await client.get("/v1/customers/a", headers=tenant.headers)).json()
    assert (customer["status"], customer["plan"], customer["mrr"]) == ("active", "team", 9900)
    single = await client.post(
        "/v1/events", json=event("plan_change", "a", at(7), plan="nowhere"), headers=tenant.headers
    )
    assert single.status_code == 422
    assert single.json()["errors"][0]["loc"] == ["body", "mrr"]
    # the client's content is what makes an event a duplicate, whatever the catalog says later
    await client.put(
        "/v1/plans/basic",
        json={"name": "basic", "price": 2900, "currency": "USD"},
        headers=tenant.headers,
    )
    again = await post_batch(
        client, tenant.headers, [purchase("a", at(0), amount=1900, plan="basic")]
    )
    assert again["duplicates"] == 1
