"""Segment's HTTP Tracking API served under /segment: auth, body handling, message mapping,
idempotency, per-tenant mappings (through the ASGI app; the real client is driven against a
running server in test_segment_client.py)."""

import base64
import gzip
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.conftest import TenantInfo, bearer, make_key

NOW = datetime.now(UTC).replace(microsecond=0)


def iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


JSON = "application/json"


def track(
    user: str | None = "user_1",
    name: str = "Report Exported",
    properties: dict[str, Any] | None = None,
    message_id: str | None = "msg-1",
    **extra: Any,
) -> dict[str, Any]:
    message: dict[str, Any] = {
        "type": "track",
        "event": name,
        "properties": properties or {},
        "timestamp": iso(NOW - timedelta(hours=1)),
        "context": {"library": {"name": "analytics-python", "version": "2.4.0"}},
        **extra,
    }
    if user is not None:
        message["userId"] = user
    if message_id is not None:
        message["messageId"] = message_id
    return message


def identify(user: str, traits: dict[str, Any], message_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "identify",
        "userId": user,
        "traits": traits,
        "messageId": message_id,
        "timestamp": iso(NOW - timedelta(hours=2)),
        **extra,
    }


@pytest.fixture
async def write_key(client: httpx.AsyncClient, tenant: TenantInfo) -> str:
    return await make_key(client, tenant, "events:write")


async def post_batch(
    client: httpx.AsyncClient, key: str, messages: list[Any], **body: Any
) -> dict[str, Any]:
    response = await client.post(
        "/segment/v1/batch", json={"batch": messages, **body}, headers=basic(key)
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    assert result["success"] is True
    return result


async def timeline(
    client: httpx.AsyncClient, tenant: TenantInfo, user: str = "user_1"
) -> list[dict[str, Any]]:
    response = await client.get(f"/v1/customers/{user}/events", headers=tenant.headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def customer(
    client: httpx.AsyncClient, tenant: TenantInfo, user: str = "user_1"
) -> dict[str, Any]:
    response = await client.get(f"/v1/customers/{user}", headers=tenant.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


# -- mapping ------------------------------------------------------------------------------------


async def test_a_batch_maps_tracks_by_name_and_stores_identify_traits(
    client: httpx.AsyncClient, tenant: TenantInfo, write_key: str
) -> None:
    messages = [
        identify("user_1", {"email": "ada@example.com", "plan": "pro"}, "m-identify"),
        track(name="Plan Changed", properties={"plan": "pro", "mrr": 49}, message_id="m-plan"),
        track(
            name="Order Completed",
            properties={"revenue": 25.5, "currency": "eur", "order_id": "o-1", "products": []},
            message_id="m-order",
        ),
        track(name="Report Exported", properties={"format": "csv"}, message_id="m-usage"),
        track(name="NPS Submitted", properties={"score": 9, "comment": "great"}, message_id="m-n"),
    ]
    result = await post_batch(client, write_key, messages)
    assert result == {
        "success": True,
        "accepted": 5,
        "duplicates": 0,
        "ignored": 0,
        "rejected": 0,
        "errors": [],
    }
    events = {e["type"]: e for e in await timeline(client, tenant)}
    assert set(events) == {"plan_change", "purchase", "usage", "feedback"}
    assert (events["plan_change"]["plan"], events["plan_change"]["mrr"]) == ("pro", 4900)
    purchase = events["purchase"]
    assert (purchase["amount"], purchase["currency"]) == (2550, "EUR")
    assert purchase["properties"] == {
        "segment_event": "Order Completed",
        "order_id": "o-1",
        "products": [],
    }
    assert purchase["idempotency_key"] == "segment:m-order"
    assert purchase["source"] == "segment"
    assert purchase["occurred_at"] == iso(NOW - timedelta(hours=1))
    usage = events["usage"]
    assert (usage["feature"], usage["quantity"], usage["properties"]) == (
        "Report Exported",
        1,
        {"format": "csv"},
    )
    assert (events["feedback"]["nps"], events["feedback"]["comment"]) == (9, "great")

    state = await customer(client, tenant)
    assert state["traits"] == {"email": "ada@example.com", "plan": "pro"}
    assert (state["status"], state["mrr"]) == ("active", 4900)


@pytest.mark.parametrize(
    ("name", "properties", "expected"),
    [
        (
            "Subscription Cancelled",
            {"reason": "price too high", "comment": "bye"},
            {"type": "cancellation", "reason": "other", "comment": "bye"},
        ),
        (
            "Subscription Cancelled",
            {"reason": "too_expensive"},
            {"type": "cancellation", "reason": "too_expensive"},
        ),
        ("Subscription Paused", {"reason": "holiday"}, {"type": "pause", "reason": "holiday"}),
        ("Subscription Resumed", {}, {"type": "resume"}),
        (
            "Payment Failed",
            {"amount": 1000, "currency": "JPY", "reason": "card_declined"},
            {"type": "payment_failed", "amount": 1000, "currency": "JPY"},
        ),
        ("Order Completed", {"total": 10}, {"type": "purchase", "amount": 1000, "currency": "USD"}),
        ("Search", {"quantity": 3}, {"type": "usage", "feature": "Search", "quantity": 3}),
    ],
)
async def test_default_mappings(
    client: httpx.AsyncClient,
    tenant: TenantInfo,
    write_key: str,
    name: str,
    properties: dict[str, Any],
    expected: dict[str, Any],
) -> None:
    await post_batch(client, write_key, [track(name=name, properties=properties)])
    stored = (await timeline(client, tenant))[0]
    assert {k: stored[k] for k in expected} == expected


async def test_identify_merges_traits_and_creates_a_lead(
    client: httpx.AsyncClient, tenant: TenantInfo, write_key: str
) -> None:
    await post_batch(client, write_key, [identify("lead_1", {"email": "a@x.io", "age": 3}, "i1")])
    state = await customer(client, tenant, "lead_1")
    assert (state["status"], state["counters"]["events"]) == ("lead", 0)
    assert state["first_seen_at"] == iso(NOW - timedelta(hours=2))
    await post_batch(client, write_key, [identify("lead_1", {"email": "b@x.io"}, "i2")])
    assert (await customer(client, tenant, "lead_1"))["traits"] == {"email": "b@x.io", "age": 3}


async def test_a_replayed_message_id_is_a_duplicate(
    client: httpx.AsyncClient, tenant: TenantInfo, write_key: str
) -> None:
    first = await post_batch(client, write_key, [track(message_id="same")])
    again = await post_batch(client, write_key, [track(message_id="same")])
    assert (first["accepted"], again["duplicates"]) == (1, 1)
    assert len(await timeline(client, tenant)) == 1


async def test_anonymous_and_page_calls_are_ignored(
    client: httpx.AsyncClient, tenant: TenantInfo, write_key: str, conn: AsyncConnection
) -> None:
    anonymous = track(user=None, anonymousId="anon-1")
    page = {"type": "page", "userId": "user_1", "name": "Home", "messageId": "p1"}
    result = await post_batch(client, write_key, [anonymous, page])
    assert (result["ignored"], result["accepted"], result["rejected"]) == (2, 0, 0)
    count = await conn.scalar(
        text("SELECT count(*) FROM events WHERE tenant_id = :t"), {"t": tenant.id}
    )
    assert count == 0


async def test_invalid_messages_are_reported_and_the_rest_kept(
    client: httpx.AsyncClient, tenant: TenantInfo, write_key: str
) -> None:
    messages = [
        track(user="has spaces", message_id="bad-user"),
        track(name="Order Completed", properties={"revenue": -5}, message_id="bad-money"),
        track(name="Plan Changed", properties={"mrr": 10}, message_id="no-plan"),
        track(properties={"blob": "x" * (33 * 1024)}, message_id="too-big"),
        track(timestamp="yesterday", message_id="bad-time"),
        "not an object",
        track(message_id="good"),
    ]
    result = await post_batch(client, write_key, messages)
    assert (result["accepted"], result["rejected"]) == (1, 6)
    by_index = {e["index"]: e for e in result["errors"]}
    assert by_index[0]["errors"][0]["loc"] == ["userId"]
    assert by_index[1]["errors"][0]["loc"] == ["properties", "revenue"]
    assert by_index[2]["errors"][0]["loc"] == ["properties", "plan"]
    assert by_index[3]["message_id"] == "too-big"
    assert by_index[4]["errors"][0]["loc"] == ["timestamp"]
    assert by_index[5]["message_id"] is None
    assert [e["idempotency_key"] for e in await timeline(client, tenant)] == ["segment:good"]


async def test_properties_that_do_not_fit_are_dropped_not_fatal(
    client: httpx.AsyncClient, tenant: TenantInfo, write_key: str
) -> None:
    properties = {
        "ok": 1,
        "nul": "a\u0000b",
        "huge_int": 2**70,
        "deep": {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": 1}}}}}}}},
        "big_1": "x" * 9000,
        "big_2": "y" * 9000,
    }
    result = await post_batch(client, write_key, [track(properties=properties)])
    assert result["accepted"] == 1, result
    stored = (await timeline(client, tenant))[0]["properties"]
    assert stored["ok"] == 1
    assert stored["_truncated"] is True
    assert "nul" not in stored and "huge_int" not in stored
    assert "h" not in json.dumps(stored["deep"])
    assert ("big_1" in stored) != ("big_2" in stored)  # only one fits in 16 KB


async def test_original_timestamp_is_corrected_by_the_client_clock_offset(
    client: httpx.AsyncClient, tenant: TenantInfo, write_key: str
) -> None:
    now = datetime.now(UTC)  # the server corrects with its own clock: compare with a fresh one
    message = track()
    del message["timestamp"]
    # the sender's clock runs an hour behind: it sent "now" as now - 1h
    message["originalTimestamp"] = iso(now - timedelta(hours=3))
    await post_batch(client, write_key, [message], sentAt=iso(now - timedelta(hours=1)))
    stored = datetime.fromisoformat((await timeline(client, tenant))[0]["occurred_at"])
    assert abs(stored - (now - timedelta(hours=2))) < timedelta(seconds=30)


async def test_single_message_endpoints(
    client: httpx.AsyncClient, tenant: TenantInfo, write_key: str
) -> None:
    message = track(message_id="single")
    del message["type"]  # implied by the endpoint
    tracked = await client.post("/segment/v1/track", json=message, headers=basic(write_key))
    assert tracked.status_code == 200, tracked.text
    assert tracked.json()["accepted"] == 1
    identified = await client.post(
        "/segment/v1/identify",
        json={"userId": "user_1", "traits": {"name": "Ada"}, "writeKey": write_key},
    )
    assert identified.status_code == 200, identified.text
    assert (await customer(client, tenant))["traits"] == {"name": "Ada"}

    bad = await client.post(
        "/segment/v1/track", json=track(user="no spaces please"), headers=basic(write_key)
    )
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["loc"] == ["userId"]
    too_big = await client.post(
        "/segment/v1/track",
        json=track(properties={"blob": "x" * (33 * 1024)}),
        headers=basic(write_key),
    )
    assert too_big.status_code == 413


# -- auth and body ------------------------------------------------------------------------------


async def test_write_key_in_the_body_authenticates(
    client: httpx.AsyncClient, tenant: TenantInfo, write_key: str
) -> None:
    response = await client.post(
        "/segment/v1/batch", json={"batch": [track()], "writeKey": write_key}
    )
    assert response.status_code == 200, response.text
    assert len(await timeline(client, tenant)) == 1


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Basic !!!not-base64"},
        {"Authorization": "Basic " + base64.b64encode(b"hf_nope_nope:").decode()},
        {"Authorization": "Digest abc"},
    ],
)
async def test_missing_or_bad_write_key_is_401(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await client.post("/segment/v1/batch", json={"batch": [track()]}, headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_key_without_events_write_is_403(
    client: httpx.AsyncClient, tenant: TenantInfo
) -> None:
    key = await make_key(client, tenant, "read")
    response = await client.post("/segment/v1/batch", json={"batch": [track()]}, headers=basic(key))
    assert response.status_code == 403


async def test_gzip_bodies_are_accepted(
    client: httpx.AsyncClient, tenant: TenantInfo, write_key: str
) -> None:
    body = gzip.compress(json.dumps({"batch": [track()]}).encode())
    response = await client.post(
        "/segment/v1/batch",
        content=body,
        headers={
            **basic(write_key),
            "Content-Encoding": "gzip",
            "Content-Type": "application/json",
        },
    )
    assert response.status_code == 200, response.text
    assert len(await timeline(client, tenant)) == 1


async def test_a_gzip_bomb_is_413(client: httpx.AsyncClient, write_key: str) -> None:
    bomb = gzip.compress(b'{"batch": [' + b" " * (50 * 1024 * 1024) + b"]}", compresslevel=9)
    assert len(bomb) < 100 * 1024
    response = await client.post(
        "/segment/v1/batch",
        content=bomb,
        headers={**basic(write_key), "Content-Encoding": "gzip", "Content-Type": JSON},
    )
    assert response.status_code == 413


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        (b"\x1f\x8b\x08\x00corrupt", {"Content-Encoding": "gzip"}, 400),
        (gzip.compress(b'{"batch": []}')[:-6], {"Content-Encoding": "gzip"}, 400),
        (b'{"batch": []}', {"Content-Encoding": "br"}, 415),
        (b'{"batch": [' + b" " * (501 * 1024) + b"]}", {}, 413),
        (b"not json", {}, 400),
        (b"[]", {}, 400),
        (b'{"batch": "nope"}', {}, 400),
        (b'{"batch": [NaN]}', {}, 400),
        (b'{"batch": [], "writeKey": 5}', {}, 400),
    ],
    ids=[
        "corrupt gzip",
        "truncated gzip",
        "brotli",
        "over 500 KB",
        "not json",
        "array",
        "batch not a list",
        "NaN",
        "writeKey not a string",
    ],
)
async def test_malformed_bodies(
    client: httpx.AsyncClient, write_key: str, body: bytes, headers: dict[str, str], status: int
) -> None:
    response = await client.post(
        "/segment/v1/batch",
        content=body,
        headers={**basic(write_key), "Content-Type": JSON, **headers},
    )
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(("content_type", "status"), [("text/plain", 200), ("text/html", 415)])
async def test_the_text_plain_of_analytics_js_is_json_too(
    client: httpx.AsyncClient, write_key: str, content_type: str, status: int
) -> None:
    # analytics.js posts from browsers as text/plain (no CORS preflight), writeKey in the body.
    body = json.dumps({"batch": [track()], "writeKey": write_key}).encode()
    response = await client.post(
        "/segment/v1/batch", content=body, headers={"Content-Type": content_type}
    )
    assert response.status_code == status, response.text


# -- mappings -----------------------------------------------------------------------------------


async def test_tenant_mappings_override_defaults_and_can_ignore(
    client: httpx.AsyncClient, tenant: TenantInfo, other_tenant: TenantInfo, write_key: str
) -> None:
    defaults = await client.get("/v1/integrations/segment/mappings", headers=tenant.headers)
    assert defaults.status_code == 200
    assert {"event_name": "Order Completed", "event_type": "purchase", "source": "default"} in (
        defaults.json()["mappings"]
    )
    put = await client.put(
        "/v1/integrations/segment/mappings",
        json={
            "mappings": [
                {"event_name": "Checkout Done", "event_type": "purchase"},
                {"event_name": "Heartbeat", "event_type": "ignore"},
                {"event_name": "NPS Submitted", "event_type": "usage"},
            ]
        },
        headers=tenant.headers,
    )
    assert put.status_code == 200, put.text
    listed = {m["event_name"]: m for m in put.json()["mappings"]}
    assert listed["NPS Submitted"] == {
        "event_name": "NPS Submitted",
        "event_type": "usage",
        "source": "custom",
    }
    assert listed["Order Completed"]["source"] == "default"

    result = await post_batch(
        client,
        write_key,
        [
            track(name="Checkout Done", properties={"revenue": 3}, message_id="a"),
            track(name="Heartbeat", message_id="b"),
            track(name="NPS Submitted", properties={"score": 3}, message_id="c"),
        ],
    )
    assert (result["accepted"], result["ignored"]) == (2, 1)
    types = sorted(e["type"] for e in await timeline(client, tenant))
    assert types == ["purchase", "usage"]

    theirs = await client.get("/v1/integrations/segment/mappings", headers=other_tenant.headers)
    assert all(m["source"] == "default" for m in theirs.json()["mappings"])
    hidden = await client.get("/v1/customers/user_1", headers=other_tenant.headers)
    assert hidden.status_code == 404

    cleared = await client.put(
        "/v1/integrations/segment/mappings", json={"mappings": []}, headers=tenant.headers
    )
    assert all(m["source"] == "default" for m in cleared.json()["mappings"])


@pytest.mark.parametrize(
    "mappings",
    [
        [{"event_name": "A", "event_type": "purchase"}, {"event_name": "A", "event_type": "usage"}],
        [{"event_name": "A", "event_type": "refund"}],
        [{"event_name": "", "event_type": "usage"}],
        [{"event_name": "A\u0000", "event_type": "usage"}],
        [{"event_name": "A", "event_type": "usage", "tenant_id": "x"}],
    ],
)
async def test_invalid_mappings_are_422(
    client: httpx.AsyncClient, tenant: TenantInfo, mappings: list[dict[str, str]]
) -> None:
    response = await client.put(
        "/v1/integrations/segment/mappings", json={"mappings": mappings}, headers=tenant.headers
    )
    assert response.status_code == 422


async def test_only_admins_manage_mappings(
    client: httpx.AsyncClient, tenant: TenantInfo, write_key: str
) -> None:
    response = await client.put(
        "/v1/integrations/segment/mappings", json={"mappings": []}, headers=bearer(write_key)
    )
    assert response.status_code == 403
