"""Paddle Billing notifications end to end: payloads shaped like Paddle's, signed the way
Paddle signs, verified by the endpoint with the SDK's Verifier."""

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.integrations.errors import InvalidSignature
from app.integrations.paddle.service import verify
from tests.conftest import TenantInfo, bearer, make_key
from tests.integrations import paddle_payloads as pp

NOW = datetime.now(UTC).replace(microsecond=0)
URL = "/v1/integrations/paddle"


def hook_url(tenant: TenantInfo) -> str:
    return f"{URL}/webhook/{tenant.id}"


async def connect(client: httpx.AsyncClient, tenant: TenantInfo, secret: str = pp.SECRET) -> None:
    response = await client.put(URL, json={"webhook_secret": secret}, headers=tenant.headers)
    assert response.status_code == 200, response.text


async def deliver(
    client: httpx.AsyncClient, tenant: TenantInfo, payload: dict[str, Any], **sign: Any
) -> httpx.Response:
    body, headers = pp.signed(payload, **sign)
    return await client.post(hook_url(tenant), content=body, headers=headers)


async def deliver_ok(
    client: httpx.AsyncClient, tenant: TenantInfo, payload: dict[str, Any]
) -> dict[str, Any]:
    response = await deliver(client, tenant, payload)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def customer(
    client: httpx.AsyncClient, tenant: TenantInfo, customer_id: str = pp.CUSTOMER
) -> dict[str, Any]:
    response = await client.get(f"/v1/customers/{customer_id}", headers=tenant.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def history(
    conn: AsyncConnection, tenant: TenantInfo, customer_id: str = pp.CUSTOMER
) -> list[tuple[str, str, int, datetime]]:
    rows = await conn.execute(
        text(
            "SELECT kind, status, mrr, effective_at FROM customer_status_changes"
            " WHERE tenant_id = :t AND customer_id = :c ORDER BY effective_at, seq"
        ),
        {"t": tenant.id, "c": customer_id},
    )
    return [(r.kind, r.status, r.mrr, r.effective_at) for r in rows]


async def event_count(conn: AsyncConnection, tenant: TenantInfo) -> int:
    count = await conn.scalar(
        text("SELECT count(*) FROM events WHERE tenant_id = :t"), {"t": tenant.id}
    )
    return int(count or 0)


async def churn_totals(
    client: httpx.AsyncClient, tenant: TenantInfo, start: datetime
) -> dict[str, int]:
    response = await client.get(
        "/v1/metrics/churn",
        params={"start": pp.iso(start), "end": pp.iso(NOW), "granularity": "day"},
        headers=tenant.headers,
    )
    assert response.status_code == 200, response.text
    periods = response.json()["periods"]
    totals = {
        key: sum(p[key] for p in periods)
        for key in ("new", "churned", "reactivated", "mrr_churned", "mrr_contraction")
    }
    totals["customers_at_end"] = periods[-1]["customers_at_end"]
    totals["mrr_at_end"] = periods[-1]["mrr_at_end"]
    return totals


@pytest.fixture
async def paddle_tenant(client: httpx.AsyncClient, tenant: TenantInfo) -> TenantInfo:
    await connect(client, tenant)
    return tenant


def sub_event(event_type: str, when: datetime, event_id: str, **sub: Any) -> dict[str, Any]:
    return pp.notification(event_type, pp.subscription(**sub), when, event_id)


PRO = [pp.item(pp.price("pri_pro", 5000), quantity=2)]  # 2 seats x 50.00 a month
BASIC = [pp.item(pp.price("pri_basic", 2000), quantity=1)]


# -- settings and authentication -----------------------------------------------------------------


async def test_connect_answers_the_webhook_url_and_never_shows_the_secret(
    client: httpx.AsyncClient, tenant: TenantInfo
) -> None:
    before = await client.get(URL, headers=tenant.headers)
    assert before.json()["secret_set"] is False
    put = await client.put(URL, json={"webhook_secret": pp.SECRET}, headers=tenant.headers)
    assert put.status_code == 200
    assert put.json()["webhook_url"] == f"http://holdfast.test{URL}/webhook/{tenant.id}"
    after = await client.get(URL, headers=tenant.headers)
    assert after.json() == {**put.json(), "secret_set": True}
    assert pp.SECRET not in put.text + after.text


@pytest.mark.parametrize(
    "secret", ["whsec_abc", "pdl_ntfset_", "pdl_ntfset_a b", "pdl_ntfset_" + "x" * 250, 12]
)
async def test_connect_rejects_what_is_not_a_paddle_secret_key(
    client: httpx.AsyncClient, tenant: TenantInfo, secret: Any
) -> None:
    response = await client.put(URL, json={"webhook_secret": secret}, headers=tenant.headers)
    assert response.status_code == 422
    assert ["body", "webhook_secret"] in [e["loc"] for e in response.json()["errors"]]


@pytest.mark.parametrize("scopes", [["read"], ["events:write"]])
async def test_only_admins_connect_or_read_paddle_settings(
    client: httpx.AsyncClient, tenant: TenantInfo, scopes: list[str]
) -> None:
    key = await make_key(client, tenant, *scopes)
    put = await client.put(URL, json={"webhook_secret": pp.SECRET}, headers=bearer(key))
    get = await client.get(URL, headers=bearer(key))
    assert (put.status_code, get.status_code) == (403, 403)


def test_paddles_published_example_verifies_with_the_sdk() -> None:
    # The vector is from 2024: only the age check is relaxed here.
    event = verify(pp.EXAMPLE_BODY, pp.EXAMPLE_HEADER, pp.EXAMPLE_SECRET, tolerance_s=10**10)
    assert event["event_id"] == "evt_01hs0tqfme2xwb2hvwv87p8y3w"
    with pytest.raises(InvalidSignature):
        verify(pp.EXAMPLE_BODY + b" ", pp.EXAMPLE_HEADER, pp.EXAMPLE_SECRET, tolerance_s=10**10)
    with pytest.raises(InvalidSignature):
        verify(pp.EXAMPLE_BODY, pp.EXAMPLE_HEADER, pp.EXAMPLE_SECRET)  # too old


def test_a_stale_signature_is_refused_even_in_the_sdks_test_mode(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TEST_MODE", "1")  # turns the SDK's own age check off
    body, headers = pp.signed({"event_id": "evt_1"}, timestamp=int(time.time()) - 3600)
    with pytest.raises(InvalidSignature):
        verify(body, headers["Paddle-Signature"], pp.SECRET)
    fresh, headers = pp.signed({"event_id": "evt_1"})
    assert verify(fresh, headers["Paddle-Signature"], pp.SECRET) == {"event_id": "evt_1"}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Paddle-Signature": "garbage"},
        {"Paddle-Signature": "ts=abc;h1=00"},
        {"Paddle-Signature": "ts=1;h1=00;x=1"},
        {"Paddle-Signature": "ts=1=2;h1=00"},
        {"Paddle-Signature": f"ts={int(time.time())};h1={'0' * 64}"},
    ],
)
async def test_bad_signatures_are_400_and_store_nothing(
    client: httpx.AsyncClient, paddle_tenant: TenantInfo, conn: AsyncConnection, headers: Any
) -> None:
    payload = sub_event("subscription.activated", NOW, "evt_bad", items=PRO)
    body, _ = pp.signed(payload)
    response = await client.post(
        hook_url(paddle_tenant),
        content=body,
        headers={"Content-Type": "application/json", **headers},
    )
    assert response.status_code == 400
    assert response.json()["type"].endswith("invalid-signature")
    assert await event_count(conn, paddle_tenant) == 0


async def test_stale_wrong_secret_unknown_and_unconfigured_tenants_look_the_same(
    client: httpx.AsyncClient, paddle_tenant: TenantInfo, other_tenant: TenantInfo
) -> None:
    payload = sub_event("subscription.activated", NOW, "evt_x", items=PRO)
    stale = await deliver(client, paddle_tenant, payload, timestamp=int(time.time()) - 301)
    future = await deliver(client, paddle_tenant, payload, timestamp=int(time.time()) + 301)
    wrong = await deliver(client, paddle_tenant, payload, secret=pp.SECRET + "x")
    unconfigured = await deliver(client, other_tenant, payload)
    body, headers = pp.signed(payload)
    unknown = await client.post(
        f"{URL}/webhook/00000000-0000-4000-8000-000000000000", content=body, headers=headers
    )
    garbage = await client.post(f"{URL}/webhook/not-a-uuid", content=body, headers=headers)
    answers = [r.json() for r in (stale, future, wrong, unconfigured, unknown, garbage)]
    assert {r.status_code for r in (stale, future, wrong, unconfigured, unknown, garbage)} == {400}
    assert len({(a["type"], a["title"]) for a in answers}) == 1


async def test_a_secret_of_one_tenant_opens_nothing_of_another(
    client: httpx.AsyncClient, paddle_tenant: TenantInfo, other_tenant: TenantInfo
) -> None:
    await connect(client, other_tenant, pp.SECRET + "other")
    payload = sub_event("subscription.activated", NOW, "evt_cross", items=PRO)
    assert (await deliver(client, other_tenant, payload)).status_code == 400
    assert (await deliver(client, paddle_tenant, payload)).status_code == 200


async def test_a_signed_body_that_is_not_a_notification_is_400(
    client: httpx.AsyncClient, paddle_tenant: TenantInfo
) -> None:
    for body in (b"[1, 2]", b"not json"):
        ts = int(time.time())
        from paddle_billing.Notifications import PaddleSignature

        h1 = PaddleSignature.calculate_hmac(pp.SECRET, f"{ts}:".encode() + body).hexdigest()
        response = await client.post(
            hook_url(paddle_tenant),
            content=body,
            headers={"Paddle-Signature": f"ts={ts};h1={h1}", "Content-Type": "application/json"},
        )
        assert response.status_code == 400


# -- mapping -------------------------------------------------------------------------------------


async def test_trial_active_downgrade_cancel_at_period_end_and_reactivation(
    client: httpx.AsyncClient, paddle_tenant: TenantInfo, conn: AsyncConnection
) -> None:
    t0 = NOW - timedelta(days=60)
    activated = t0 + timedelta(days=14)
    downgraded = t0 + timedelta(days=30)
    flagged = t0 + timedelta(days=40)
    period_end = t0 + timedelta(days=44)

    trial = await deliver_ok(
        client, paddle_tenant, sub_event("subscription.created", t0, "evt_1", status="trialing")
    )
    assert trial["status"] == "ignored"  # a trial is not a subscriber yet
    await deliver_ok(
        client, paddle_tenant, sub_event("subscription.activated", activated, "evt_2", items=PRO)
    )
    paid = await deliver_ok(
        client,
        paddle_tenant,
        pp.notification("transaction.completed", pp.transaction(10_000), activated, "evt_3"),
    )
    assert [e["type"] for e in paid["events"]] == ["purchase"]
    await deliver_ok(
        client, paddle_tenant, sub_event("subscription.updated", downgraded, "evt_4", items=BASIC)
    )
    cancelling = sub_event(
        "subscription.updated",
        flagged,
        "evt_5",
        items=BASIC,
        scheduled_change=pp.scheduled("cancel", period_end),
    )
    receipt = await deliver_ok(client, paddle_tenant, cancelling)
    assert [e["type"] for e in receipt["events"]] == ["plan_change", "resume", "cancellation"]
    # Its period end passed long ago; the removal of the scheduled change has not arrived yet.
    assert (await customer(client, paddle_tenant))["status"] == "cancelled"

    # The customer changed their mind before the period ended (delivered late): reactivated.
    await deliver_ok(
        client,
        paddle_tenant,
        sub_event("subscription.updated", period_end - timedelta(days=2), "evt_6", items=BASIC),
    )
    state = await customer(client, paddle_tenant)
    assert (state["status"], state["plan"], state["mrr"]) == ("active", "pri_basic", 2000)
    assert state["pending_cancellation"] is None
    assert state["counters"]["purchases"] == 1
    assert [(kind, status, mrr) for kind, status, mrr, _ in await history(conn, paddle_tenant)] == [
        ("new", "active", 10_000),
        ("mrr_changed", "active", 2000),
    ]
    totals = await churn_totals(client, paddle_tenant, t0)
    assert (totals["new"], totals["churned"], totals["customers_at_end"]) == (1, 0, 1)
    assert (totals["mrr_contraction"], totals["mrr_at_end"]) == (8000, 2000)


async def test_a_kept_cancellation_churns_at_the_period_end_not_at_the_request(
    client: httpx.AsyncClient, paddle_tenant: TenantInfo, conn: AsyncConnection
) -> None:
    t0 = NOW - timedelta(days=50)
    period_end = t0 + timedelta(days=30)
    await deliver_ok(
        client, paddle_tenant, sub_event("subscription.activated", t0, "evt_a", items=PRO)
    )
    await deliver_ok(
        client,
        paddle_tenant,
        sub_event(
            "subscription.updated",
            t0 + timedelta(days=20),
            "evt_b",
            items=PRO,
            scheduled_change=pp.scheduled("cancel", period_end),
        ),
    )
    canceled = sub_event(
        "subscription.canceled", period_end, "evt_c", status="canceled", canceled_at=period_end
    )
    await deliver_ok(client, paddle_tenant, canceled)
    state = await customer(client, paddle_tenant)
    assert (state["status"], state["cancelled_at"]) == ("cancelled", pp.iso(period_end))
    changes = await history(conn, paddle_tenant)
    assert [(k, s) for k, s, _, _ in changes] == [("new", "active"), ("churned", "cancelled")]
    assert changes[-1][3] == period_end
    totals = await churn_totals(client, paddle_tenant, t0 - timedelta(days=1))
    assert (totals["new"], totals["churned"], totals["mrr_churned"]) == (1, 1, 10_000)
    assert totals["customers_at_end"] == 0


async def test_mrr_sums_recurring_items_normalised_to_a_month(
    client: httpx.AsyncClient, paddle_tenant: TenantInfo
) -> None:
    items = [
        pp.item(pp.price("pri_seats", 3000), quantity=20),  # 600.00 a month
        pp.item(pp.price("pri_yearly", 120_000, interval="year")),  # 100.00 a month
        pp.item(pp.price("pri_quarter", 9001, interval="month", frequency=3)),  # 30.003 -> 30.00
        pp.item(pp.price("pri_once", 19_900, interval=None)),  # one-time: not recurring
        pp.item(pp.price("pri_old", 99_999), status="inactive"),
    ]
    await deliver_ok(
        client, paddle_tenant, sub_event("subscription.activated", NOW, "evt_m", items=items)
    )
    state = await customer(client, paddle_tenant)
    assert (state["plan"], state["mrr"], state["currency"]) == ("pri_seats", 73_000, "USD")


async def test_pause_with_a_scheduled_resume_and_the_resume(
    client: httpx.AsyncClient, paddle_tenant: TenantInfo, conn: AsyncConnection
) -> None:
    t0 = NOW - timedelta(days=20)
    paused = t0 + timedelta(days=5)
    resume_on = NOW + timedelta(days=10)
    await deliver_ok(
        client, paddle_tenant, sub_event("subscription.activated", t0, "evt_p1", items=PRO)
    )
    await deliver_ok(
        client,
        paddle_tenant,
        sub_event(
            "subscription.paused",
            paused,
            "evt_p2",
            status="paused",
            items=PRO,
            paused_at=paused,
            scheduled_change=pp.scheduled("resume", resume_on),
        ),
    )
    state = await customer(client, paddle_tenant)
    assert (state["status"], state["mrr"], state["plan_mrr"]) == ("paused", 0, 10_000)
    assert (state["paused_at"], state["paused_until"]) == (pp.iso(paused), pp.iso(resume_on))

    resumed = t0 + timedelta(days=9)
    await deliver_ok(
        client, paddle_tenant, sub_event("subscription.resumed", resumed, "evt_p3", items=PRO)
    )
    state = await customer(client, paddle_tenant)
    assert (state["status"], state["mrr"], state["paused_until"]) == ("active", 10_000, None)
    kinds = [(k, at) for k, _, _, at in await history(conn, paddle_tenant)]
    assert kinds == [("new", t0), ("paused", paused), ("resumed", resumed)]


async def test_failed_payments_and_zero_amount_transactions(
    client: httpx.AsyncClient, paddle_tenant: TenantInfo, conn: AsyncConnection
) -> None:
    failed = await deliver_ok(
        client,
        paddle_tenant,
        pp.notification(
            "transaction.payment_failed",
            pp.transaction(65_215, status="ready", error_code="declined"),
            NOW - timedelta(hours=1),
            "evt_f",
        ),
    )
    assert [e["type"] for e in failed["events"]] == ["payment_failed"]
    row = (
        await conn.execute(
            text("SELECT amount, currency, reason, properties FROM events WHERE tenant_id = :t"),
            {"t": paddle_tenant.id},
        )
    ).one()
    assert (row.amount, row.currency, row.reason) == (65_215, "USD", "declined")
    assert row.properties["paddle_transaction"] == "txn_01hv8wptq8987qeep44cyrewp9"
    free = await deliver_ok(
        client,
        paddle_tenant,
        pp.notification("transaction.completed", pp.transaction(0), NOW, "evt_free"),
    )
    assert free["status"] == "ignored"


async def test_unmapped_types_are_acknowledged_and_ignored(
    client: httpx.AsyncClient, paddle_tenant: TenantInfo, conn: AsyncConnection
) -> None:
    receipt = await deliver_ok(
        client,
        paddle_tenant,
        pp.notification("customer.created", {"id": "ctm_1"}, NOW, "evt_customer"),
    )
    assert receipt == {
        "received": True,
        "paddle_event_id": "evt_customer",
        "paddle_event_type": "customer.created",
        "status": "ignored",
        "events": [],
    }
    assert await event_count(conn, paddle_tenant) == 0


async def test_a_mapped_type_that_cannot_be_mapped_is_422_and_stores_nothing(
    client: httpx.AsyncClient, paddle_tenant: TenantInfo, conn: AsyncConnection
) -> None:
    broken = sub_event("subscription.activated", NOW, "evt_broken", customer="")
    response = await deliver(client, paddle_tenant, broken)
    assert response.status_code == 422
    assert ["body", "data", "customer_id"] in [e["loc"] for e in response.json()["errors"]]
    txn = pp.transaction(100)
    txn["details"]["totals"]["grand_total"] = "12.5"
    response = await deliver(
        client, paddle_tenant, pp.notification("transaction.completed", txn, NOW, "evt_t")
    )
    assert response.status_code == 422
    assert await event_count(conn, paddle_tenant) == 0


async def test_redelivery_is_a_duplicate_and_changes_nothing(
    client: httpx.AsyncClient, paddle_tenant: TenantInfo, conn: AsyncConnection
) -> None:
    payload = sub_event("subscription.activated", NOW, "evt_once", items=PRO)
    first = await deliver_ok(client, paddle_tenant, payload)
    again = await deliver_ok(client, paddle_tenant, payload)
    assert (first["status"], again["status"]) == ("recorded", "duplicate")
    assert [e["id"] for e in first["events"]] == [e["id"] for e in again["events"]]
    assert await event_count(conn, paddle_tenant) == 2


async def test_an_older_update_delivered_late_does_not_overwrite_newer_state(
    client: httpx.AsyncClient, paddle_tenant: TenantInfo
) -> None:
    t0 = NOW - timedelta(days=10)
    await deliver_ok(
        client,
        paddle_tenant,
        sub_event("subscription.updated", t0 + timedelta(days=2), "evt_new", items=BASIC),
    )
    await deliver_ok(
        client, paddle_tenant, sub_event("subscription.activated", t0, "evt_old", items=PRO)
    )
    state = await customer(client, paddle_tenant)
    assert (state["plan"], state["mrr"], state["subscribed_at"]) == ("pri_basic", 2000, pp.iso(t0))
