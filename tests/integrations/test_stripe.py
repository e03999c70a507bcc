"""Stripe billing webhooks end to end: payloads shaped like Stripe's, signed with the stripe
library's test helper, verified by the endpoint with ``stripe.Webhook.construct_event``."""

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.config import Settings
from app.db import Database, session_factory
from app.main import create_app
from tests.conftest import TenantInfo, bearer, make_key
from tests.integrations import stripe_payloads as sp

NOW = datetime.now(UTC).replace(microsecond=0)
START = NOW - timedelta(days=20)


def iso(value: int | datetime) -> str:
    if isinstance(value, int):
        value = datetime.fromtimestamp(value, UTC)
    return value.isoformat().replace("+00:00", "Z")


def hook_url(tenant: TenantInfo) -> str:
    return f"/v1/integrations/stripe/webhook/{tenant.id}"


async def connect(client: httpx.AsyncClient, tenant: TenantInfo, secret: str = sp.SECRET) -> None:
    response = await client.put(
        "/v1/integrations/stripe", json={"webhook_secret": secret}, headers=tenant.headers
    )
    assert response.status_code == 200, response.text


async def deliver(
    client: httpx.AsyncClient, tenant: TenantInfo, payload: dict[str, Any], **sign: Any
) -> httpx.Response:
    body, headers = sp.signed(payload, **sign)
    return await client.post(hook_url(tenant), content=body, headers=headers)


async def deliver_ok(
    client: httpx.AsyncClient, tenant: TenantInfo, payload: dict[str, Any]
) -> dict[str, Any]:
    response = await deliver(client, tenant, payload)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def customer(
    client: httpx.AsyncClient, tenant: TenantInfo, customer_id: str = "cus_1"
) -> dict[str, Any]:
    response = await client.get(f"/v1/customers/{customer_id}", headers=tenant.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def event_count(conn: AsyncConnection, tenant: TenantInfo) -> int:
    count = await conn.scalar(
        text("SELECT count(*) FROM events WHERE tenant_id = :t"), {"t": tenant.id}
    )
    assert count is not None
    return int(count)


@pytest.fixture
async def stripe_tenant(client: httpx.AsyncClient, tenant: TenantInfo) -> TenantInfo:
    await connect(client, tenant)
    return tenant


# -- settings -----------------------------------------------------------------------------------


async def test_connect_answers_the_webhook_url_and_never_shows_the_secret(
    client: httpx.AsyncClient, tenant: TenantInfo
) -> None:
    before = await client.get("/v1/integrations/stripe", headers=tenant.headers)
    assert before.status_code == 200
    assert before.json()["secret_set"] is False

    put = await client.put(
        "/v1/integrations/stripe", json={"webhook_secret": sp.SECRET}, headers=tenant.headers
    )
    assert put.status_code == 200
    expected = f"http://holdfast.test/v1/integrations/stripe/webhook/{tenant.id}"
    assert put.json()["webhook_url"] == expected
    after = await client.get("/v1/integrations/stripe", headers=tenant.headers)
    assert after.json() == {**put.json(), "secret_set": True}
    assert sp.SECRET not in put.text + after.text


async def test_webhook_url_uses_the_public_url_when_configured(
    conn: AsyncConnection, engine: Any, tenant: TenantInfo
) -> None:
    settings = Settings(database_url=None, public_url="https://holdfast.example.com/")
    app = create_app(settings, Database(engine, session_factory(conn)))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://internal:8000"
    ) as c:
        response = await c.get("/v1/integrations/stripe", headers=tenant.headers)
    assert response.json()["webhook_url"] == (
        f"https://holdfast.example.com/v1/integrations/stripe/webhook/{tenant.id}"
    )


@pytest.mark.parametrize(
    "secret", ["sk_live_123", "whsec_", "whsec_a b", "whsec_\u0000x", "whsec_" + "x" * 250]
)
async def test_connect_rejects_what_is_not_a_signing_secret(
    client: httpx.AsyncClient, tenant: TenantInfo, secret: str
) -> None:
    response = await client.put(
        "/v1/integrations/stripe", json={"webhook_secret": secret}, headers=tenant.headers
    )
    assert response.status_code == 422
    assert ["body", "webhook_secret"] in [e["loc"] for e in response.json()["errors"]]


@pytest.mark.parametrize("scopes", [["read"], ["events:write"]])
async def test_only_admins_connect_or_read_stripe_settings(
    client: httpx.AsyncClient, tenant: TenantInfo, scopes: list[str]
) -> None:
    key = await make_key(client, tenant, *scopes)
    put = await client.put(
        "/v1/integrations/stripe", json={"webhook_secret": sp.SECRET}, headers=bearer(key)
    )
    get = await client.get("/v1/integrations/stripe", headers=bearer(key))
    assert (put.status_code, get.status_code) == (403, 403)


async def test_replacing_the_secret_retires_the_old_one(
    client: httpx.AsyncClient, stripe_tenant: TenantInfo
) -> None:
    new_secret = "whsec_rotated_0123456789abcdef"
    await connect(client, stripe_tenant, new_secret)
    created = sp.event("customer.subscription.created", sp.subscription(start=START), created=START)
    old = await deliver(client, stripe_tenant, created)
    assert old.status_code == 400
    body, headers = sp.signed(created, secret=new_secret)
    fresh = await client.post(hook_url(stripe_tenant), content=body, headers=headers)
    assert fresh.status_code == 200, fresh.text


# -- signatures ---------------------------------------------------------------------------------

CREATED = sp.event("customer.subscription.created", sp.subscription(start=START), created=START)


def _tampered() -> tuple[bytes, dict[str, str]]:
    body, headers = sp.signed(CREATED)
    return body.replace(b"4900", b"4901"), headers


def _stale() -> tuple[bytes, dict[str, str]]:
    return sp.signed(CREATED, timestamp=int(time.time()) - 301)


def _wrong_secret() -> tuple[bytes, dict[str, str]]:
    return sp.signed(CREATED, secret="whsec_someone_elses_secret")


def _missing() -> tuple[bytes, dict[str, str]]:
    body, headers = sp.signed(CREATED)
    del headers["Stripe-Signature"]
    return body, headers


def _garbled() -> tuple[bytes, dict[str, str]]:
    body, headers = sp.signed(CREATED)
    return body, {**headers, "Stripe-Signature": "t=abc,v1"}


def _not_utf8() -> tuple[bytes, dict[str, str]]:
    body, headers = sp.signed(CREATED)
    return b"\xff\xfe" + body, headers


@pytest.mark.parametrize(
    "make",
    [_tampered, _stale, _wrong_secret, _missing, _garbled, _not_utf8],
    ids=lambda f: f.__name__,
)
async def test_bad_signatures_are_400_and_store_nothing(
    client: httpx.AsyncClient, stripe_tenant: TenantInfo, conn: AsyncConnection, make: Any
) -> None:
    body, headers = make()
    response = await client.post(hook_url(stripe_tenant), content=body, headers=headers)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("/invalid-signature")
    assert await event_count(conn, stripe_tenant) == 0
    missing = await client.get("/v1/customers/cus_1", headers=stripe_tenant.headers)
    assert missing.status_code == 404


async def test_unknown_tenant_and_unconfigured_tenant_look_like_a_bad_signature(
    client: httpx.AsyncClient, stripe_tenant: TenantInfo, other_tenant: TenantInfo
) -> None:
    body, headers = sp.signed(CREATED, secret="whsec_wrong_one")
    wrong = await client.post(hook_url(stripe_tenant), content=body, headers=headers)
    body, headers = sp.signed(CREATED)
    answers = [
        wrong,
        await client.post(hook_url(other_tenant), content=body, headers=headers),
        await client.post(
            f"/v1/integrations/stripe/webhook/{uuid.uuid4()}", content=body, headers=headers
        ),
        await client.post(
            "/v1/integrations/stripe/webhook/not-a-uuid", content=body, headers=headers
        ),
    ]
    assert {r.status_code for r in answers} == {400}
    assert len({r.content for r in answers}) == 1


async def test_a_signed_body_that_is_not_an_event_is_400(
    client: httpx.AsyncClient, stripe_tenant: TenantInfo
) -> None:
    body = b"[1, 2, 3]"
    from stripe import WebhookSignature

    header = WebhookSignature.generate_signature_header(body.decode(), sp.SECRET)
    response = await client.post(
        hook_url(stripe_tenant),
        content=body,
        headers={"Stripe-Signature": header, "Content-Type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 400
    assert response.json()["type"].endswith("/bad-request")


async def test_a_secret_of_one_tenant_opens_nothing_of_another(
    client: httpx.AsyncClient, stripe_tenant: TenantInfo, other_tenant: TenantInfo
) -> None:
    await connect(client, other_tenant, "whsec_globex_secret_000000")
    assert (await deliver(client, stripe_tenant, CREATED)).status_code == 200
    # tenant A's signed event replayed at tenant B's URL
    body, headers = sp.signed(CREATED)
    assert (
        await client.post(hook_url(other_tenant), content=body, headers=headers)
    ).status_code == 400
    hidden = await client.get("/v1/customers/cus_1", headers=other_tenant.headers)
    assert hidden.status_code == 404


# -- mapping ------------------------------------------------------------------------------------


async def test_subscription_created_starts_the_subscription_with_monthly_mrr(
    client: httpx.AsyncClient, stripe_tenant: TenantInfo
) -> None:
    items = [
        (sp.price("price_seats", 2000), 3),
        (sp.price("price_addon_yearly", 10000, interval="year"), 1),
    ]
    payload = sp.event(
        "customer.subscription.created",
        sp.subscription(start=START, items=items),
        created=START,
        event_id="evt_1Pgc76B7WZ01zgkWwyRHS12y",
    )
    receipt = await deliver_ok(client, stripe_tenant, payload)
    assert receipt["status"] == "recorded"
    assert receipt["stripe_event_id"] == "evt_1Pgc76B7WZ01zgkWwyRHS12y"
    assert [(e["type"], e["idempotency_key"]) for e in receipt["events"]] == [
        ("plan_change", "stripe:evt_1Pgc76B7WZ01zgkWwyRHS12y:1-plan")
    ]
    state = await customer(client, stripe_tenant)
    assert state["status"] == "active"
    assert state["plan"] == "price_seats"
    assert state["mrr"] == 2000 * 3 + 10000 // 12  # 6833: the yearly item rounds down
    assert state["currency"] == "USD"
    assert state["subscribed_at"] == iso(START)
    timeline = await client.get("/v1/customers/cus_1/events", headers=stripe_tenant.headers)
    assert timeline.json()["items"][0]["source"] == "stripe"


async def test_older_api_shape_with_top_level_plan_and_period(
    client: httpx.AsyncClient, stripe_tenant: TenantInfo
) -> None:
    sub = sp.subscription(
        start=START,
        items=[(sp.price("plan_gold", 30000, interval="month", interval_count=3), 2)],
        legacy=True,
    )
    await deliver_ok(
        client, stripe_tenant, sp.event("customer.subscription.created", sub, created=START)
    )
    state = await customer(client, stripe_tenant)
    assert (state["plan"], state["mrr"]) == ("plan_gold", 30000 * 2 // 3)

    sub_cancel = {**sub, "cancel_at_period_end": True}
    await deliver_ok(
        client,
        stripe_tenant,
        sp.event(
            "customer.subscription.updated",
            sub_cancel,
            created=START + timedelta(days=1),
            event_id="evt_2",
            previous={"cancel_at_period_end": False},
        ),
    )
    pending = (await customer(client, stripe_tenant))["pending_cancellation"]
    assert pending["effective_at"] == iso(sub["current_period_end"])


async def test_plan_change_and_cancel_at_period_end_in_one_update_give_two_events(
    client: httpx.AsyncClient, stripe_tenant: TenantInfo
) -> None:
    before = sp.subscription(start=START)
    await deliver_ok(
        client, stripe_tenant, sp.event("customer.subscription.created", before, created=START)
    )
    after = sp.subscription(
        start=START,
        items=[(sp.price("price_basic", 1900), 1)],
        cancel_at_period_end=True,
        feedback="too_expensive",
        comment="cheaper elsewhere",
    )
    receipt = await deliver_ok(
        client,
        stripe_tenant,
        sp.event(
            "customer.subscription.updated",
            after,
            created=NOW - timedelta(days=2),
            event_id="evt_upd",
            previous={"items": before["items"], "cancel_at_period_end": False},
        ),
    )
    assert [(e["type"], e["idempotency_key"]) for e in receipt["events"]] == [
        ("plan_change", "stripe:evt_upd:1-plan"),
        ("cancellation", "stripe:evt_upd:3-cancel"),
    ]
    state = await customer(client, stripe_tenant)
    assert (state["status"], state["plan"], state["mrr"]) == ("active", "price_basic", 1900)
    period_end = after["items"]["data"][0]["current_period_end"]
    assert state["pending_cancellation"] == {
        "requested_at": iso(NOW - timedelta(days=2)),
        "effective_at": iso(period_end),
        "reason": "too_expensive",
    }


async def test_cancel_at_period_end_withdrawn_resumes_and_a_kept_one_churns_at_period_end(
    client: httpx.AsyncClient, stripe_tenant: TenantInfo
) -> None:
    start = NOW - timedelta(days=40)  # its period ended 10 days ago
    sub = sp.subscription(start=start)
    cancelling = {**sub, "cancel_at_period_end": True}
    await deliver_ok(
        client, stripe_tenant, sp.event("customer.subscription.created", sub, created=start)
    )
    flag = sp.event(
        "customer.subscription.updated",
        cancelling,
        created=start + timedelta(days=5),
        event_id="evt_flag",
        previous={"cancel_at_period_end": False},
    )
    await deliver_ok(client, stripe_tenant, flag)
    churned = await customer(client, stripe_tenant)
    assert churned["status"] == "cancelled"  # the period end has passed
    assert churned["cancelled_at"] == iso(sub["items"]["data"][0]["current_period_end"])

    unflag = sp.event(
        "customer.subscription.updated",
        sub,
        created=start + timedelta(days=6),
        event_id="evt_unflag",
        previous={"cancel_at_period_end": True},
    )
    receipt = await deliver_ok(client, stripe_tenant, unflag)
    assert [e["type"] for e in receipt["events"]] == ["resume"]
    kept = await customer(client, stripe_tenant)
    assert kept["status"] == "active"
    assert kept["pending_cancellation"] is None
    assert kept["mrr"] == 4900


async def test_subscription_deleted_cancels_at_ended_at_with_feedback_as_reason(
    client: httpx.AsyncClient, stripe_tenant: TenantInfo
) -> None:
    await deliver_ok(
        client,
        stripe_tenant,
        sp.event("customer.subscription.created", sp.subscription(start=START), created=START),
    )
    ended = NOW - timedelta(days=3)
    deleted = sp.subscription(
        start=START,
        status="canceled",
        ended_at=sp.unix(ended),
        feedback="switched_service",
        comment="moved to a competitor",
    )
    deleted["cancellation_details"]["reason"] = "cancellation_requested"
    receipt = await deliver_ok(
        client,
        stripe_tenant,
        sp.event("customer.subscription.deleted", deleted, created=ended + timedelta(seconds=2)),
    )
    assert receipt["events"][0]["type"] == "cancellation"
    state = await customer(client, stripe_tenant)
    assert state["status"] == "cancelled"
    assert state["cancelled_at"] == iso(ended)
    assert state["cancel_reason"] == "switched_service"
    assert state["mrr"] == 0
    timeline = await client.get("/v1/customers/cus_1/events", headers=stripe_tenant.headers)
    stored = timeline.json()["items"][0]
    assert stored["comment"] == "moved to a competitor"
    assert stored["properties"]["stripe_cancellation_reason"] == "cancellation_requested"


async def test_paused_and_resumed_events_pause_and_resume(
    client: httpx.AsyncClient, stripe_tenant: TenantInfo
) -> None:
    sub = sp.subscription(start=START)
    await deliver_ok(
        client, stripe_tenant, sp.event("customer.subscription.created", sub, created=START)
    )
    paused = {**sub, "status": "paused"}
    await deliver_ok(
        client,
        stripe_tenant,
        sp.event(
            "customer.subscription.paused",
            paused,
            created=NOW - timedelta(days=5),
            event_id="evt_p",
        ),
    )
    state = await customer(client, stripe_tenant)
    assert (state["status"], state["mrr"], state["plan_mrr"]) == ("paused", 0, 4900)
    await deliver_ok(
        client,
        stripe_tenant,
        sp.event(
            "customer.subscription.resumed", sub, created=NOW - timedelta(days=1), event_id="evt_r"
        ),
    )
    state = await customer(client, stripe_tenant)
    assert (state["status"], state["mrr"]) == ("active", 4900)


async def test_pause_collection_pauses_until_resumes_at(
    client: httpx.AsyncClient, stripe_tenant: TenantInfo
) -> None:
    sub = sp.subscription(start=START)
    await deliver_ok(
        client, stripe_tenant, sp.event("customer.subscription.created", sub, created=START)
    )
    resumes = NOW + timedelta(days=10)
    pausing = {**sub, "pause_collection": {"behavior": "void", "resumes_at": sp.unix(resumes)}}
    receipt = await deliver_ok(
        client,
        stripe_tenant,
        sp.event(
            "customer.subscription.updated",
            pausing,
            created=NOW - timedelta(days=1),
            event_id="evt_pc",
            previous={"pause_collection": None},
        ),
    )
    assert [e["idempotency_key"] for e in receipt["events"]] == ["stripe:evt_pc:2-pause"]
    state = await customer(client, stripe_tenant)
    assert state["status"] == "paused"
    assert state["paused_until"] == iso(resumes)


async def test_invoices_become_purchases_and_failed_payments(
    client: httpx.AsyncClient, stripe_tenant: TenantInfo
) -> None:
    paid = sp.event(
        "invoice.paid", sp.invoice(amount_paid=4900), created=START, event_id="evt_inv_paid"
    )
    failed = sp.event(
        "invoice.payment_failed",
        sp.invoice(amount_paid=0, amount_due=4900, legacy=True, attempt_count=2),
        created=START + timedelta(days=10),
        event_id="evt_inv_failed",
    )
    assert (await deliver_ok(client, stripe_tenant, paid))["events"][0]["type"] == "purchase"
    assert (await deliver_ok(client, stripe_tenant, failed))["events"][0]["type"] == (
        "payment_failed"
    )
    state = await customer(client, stripe_tenant)
    assert state["lifetime_revenue"] == 4900
    assert state["counters"]["purchases"] == 1
    assert state["counters"]["payment_failures"] == 1
    timeline = (
        await client.get("/v1/customers/cus_1/events", headers=stripe_tenant.headers)
    ).json()["items"]
    by_type = {e["type"]: e for e in timeline}
    assert by_type["purchase"]["currency"] == "USD"
    # current shape (parent.subscription_details) and older shape (invoice.subscription)
    assert by_type["purchase"]["properties"]["stripe_subscription"] == "sub_1"
    assert by_type["payment_failed"]["properties"]["stripe_subscription"] == "sub_1"
    assert by_type["payment_failed"]["properties"]["stripe_attempt_count"] == 2


async def test_a_zero_amount_invoice_records_nothing(
    client: httpx.AsyncClient, stripe_tenant: TenantInfo, conn: AsyncConnection
) -> None:
    receipt = await deliver_ok(
        client,
        stripe_tenant,
        sp.event("invoice.paid", sp.invoice(amount_paid=0, amount_due=0), created=START),
    )
    assert (receipt["status"], receipt["events"]) == ("ignored", [])
    assert await event_count(conn, stripe_tenant) == 0


async def test_a_trial_counts_from_its_conversion_not_its_creation(
    client: httpx.AsyncClient, stripe_tenant: TenantInfo
) -> None:
    trialing = sp.subscription(start=START, status="trialing")
    receipt = await deliver_ok(
        client,
        stripe_tenant,
        sp.event("customer.subscription.created", trialing, created=START),
    )
    assert receipt["status"] == "ignored"
    converted = {**trialing, "status": "active"}
    converted_at = START + timedelta(days=14)
    await deliver_ok(
        client,
        stripe_tenant,
        sp.event(
            "customer.subscription.updated",
            converted,
            created=converted_at,
            event_id="evt_conv",
            previous={"status": "trialing"},
        ),
    )
    state = await customer(client, stripe_tenant)
    assert (state["status"], state["subscribed_at"]) == ("active", iso(converted_at))


async def test_unmapped_types_are_acknowledged_and_ignored(
    client: httpx.AsyncClient, stripe_tenant: TenantInfo, conn: AsyncConnection
) -> None:
    receipt = await deliver_ok(
        client,
        stripe_tenant,
        sp.event("charge.succeeded", {"id": "ch_1", "object": "charge"}, created=START),
    )
    assert receipt == {
        "received": True,
        "stripe_event_id": "evt_1",
        "stripe_event_type": "charge.succeeded",
        "status": "ignored",
        "events": [],
    }
    assert await event_count(conn, stripe_tenant) == 0


async def test_a_mapped_type_without_a_customer_is_422_and_stores_nothing(
    client: httpx.AsyncClient, stripe_tenant: TenantInfo, conn: AsyncConnection
) -> None:
    sub = sp.subscription(start=START)
    del sub["customer"]
    response = await deliver(
        client, stripe_tenant, sp.event("customer.subscription.created", sub, created=START)
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "data", "object", "customer"]
    assert await event_count(conn, stripe_tenant) == 0


# -- delivery semantics ------------------------------------------------------------------------


async def test_redelivery_is_a_duplicate_and_changes_nothing(
    client: httpx.AsyncClient, stripe_tenant: TenantInfo, conn: AsyncConnection
) -> None:
    payload = sp.event("invoice.paid", sp.invoice(), created=START, event_id="evt_again")
    first = await deliver_ok(client, stripe_tenant, payload)
    second = await deliver_ok(client, stripe_tenant, payload)  # re-signed, new timestamp
    assert (first["status"], second["status"]) == ("recorded", "duplicate")
    assert first["events"][0]["id"] == second["events"][0]["id"]
    assert await event_count(conn, stripe_tenant) == 1
    assert (await customer(client, stripe_tenant))["lifetime_revenue"] == 4900


async def test_an_older_update_delivered_late_does_not_overwrite_newer_state(
    client: httpx.AsyncClient, stripe_tenant: TenantInfo
) -> None:
    basic = sp.subscription(start=START, items=[(sp.price("price_basic", 1900), 1)])
    pro = sp.subscription(start=START, items=[(sp.price("price_pro", 4900), 1)])
    business = sp.subscription(start=START, items=[(sp.price("price_business", 9900), 1)])
    created = sp.event("customer.subscription.created", basic, created=START, event_id="evt_a")
    to_pro = sp.event(
        "customer.subscription.updated",
        pro,
        created=START + timedelta(days=1),
        event_id="evt_b",
        previous={"items": basic["items"]},
    )
    to_business = sp.event(
        "customer.subscription.updated",
        business,
        created=START + timedelta(days=2),
        event_id="evt_c",
        previous={"items": pro["items"]},
    )
    for payload in (to_business, created, to_pro):  # Stripe's order is not guaranteed
        await deliver_ok(client, stripe_tenant, payload)
    state = await customer(client, stripe_tenant)
    assert (state["plan"], state["mrr"]) == ("price_business", 9900)
    assert state["subscribed_at"] == iso(START)


async def test_a_cancellation_delivered_before_the_creation_still_churns(
    client: httpx.AsyncClient, stripe_tenant: TenantInfo
) -> None:
    ended = NOW - timedelta(days=2)
    deleted = sp.subscription(start=START, status="canceled", ended_at=sp.unix(ended))
    await deliver_ok(
        client,
        stripe_tenant,
        sp.event("customer.subscription.deleted", deleted, created=ended, event_id="evt_del"),
    )
    await deliver_ok(
        client,
        stripe_tenant,
        sp.event(
            "customer.subscription.created",
            sp.subscription(start=START),
            created=START,
            event_id="evt_new",
        ),
    )
    state = await customer(client, stripe_tenant)
    assert (state["status"], state["cancelled_at"]) == ("cancelled", iso(ended))
