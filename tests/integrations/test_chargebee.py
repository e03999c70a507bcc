"""Chargebee webhooks end to end: events shaped like Chargebee's, authenticated with HTTP Basic
auth as Chargebee's webhook settings send it."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.conftest import TenantInfo, bearer, make_key
from tests.integrations import chargebee_payloads as cp

NOW = datetime.now(UTC).replace(microsecond=0)
URL = "/v1/integrations/chargebee"


def hook_url(tenant: TenantInfo) -> str:
    return f"{URL}/webhook/{tenant.id}"


def iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


async def connect(
    client: httpx.AsyncClient, tenant: TenantInfo, body: dict[str, Any] | None = None
) -> dict[str, Any]:
    response = await client.put(
        URL, headers=tenant.headers, **({"json": body} if body is not None else {})
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


class Chargebee:
    """A tenant connected to Chargebee, posting events with its credentials."""

    def __init__(self, client: httpx.AsyncClient, tenant: TenantInfo, creds: dict[str, Any]):
        self.client, self.tenant, self.creds = client, tenant, creds

    async def post(self, payload: Any, headers: dict[str, str] | None = None) -> httpx.Response:
        auth = cp.basic(self.creds["username"], self.creds["password"])
        return await self.client.post(
            hook_url(self.tenant),
            content=json.dumps(payload).encode(),
            headers={"Content-Type": "application/json", **(auth if headers is None else headers)},
        )

    async def ok(self, payload: Any) -> dict[str, Any]:
        response = await self.post(payload)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def customer(self, customer_id: str = cp.CUSTOMER) -> dict[str, Any]:
        response = await self.client.get(
            f"/v1/customers/{customer_id}", headers=self.tenant.headers
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


@pytest.fixture
async def cb(client: httpx.AsyncClient, tenant: TenantInfo) -> Chargebee:
    return Chargebee(client, tenant, await connect(client, tenant))


async def history(
    conn: AsyncConnection, tenant: TenantInfo
) -> list[tuple[str, str, int, datetime]]:
    rows = await conn.execute(
        text(
            "SELECT kind, status, mrr, effective_at FROM customer_status_changes"
            " WHERE tenant_id = :t AND customer_id = :c ORDER BY effective_at, seq"
        ),
        {"t": tenant.id, "c": cp.CUSTOMER},
    )
    return [(r.kind, r.status, r.mrr, r.effective_at) for r in rows]


async def event_count(conn: AsyncConnection, tenant: TenantInfo) -> int:
    count = await conn.scalar(
        text("SELECT count(*) FROM events WHERE tenant_id = :t"), {"t": tenant.id}
    )
    return int(count or 0)


PRO = [cp.item("pro-USD-Monthly", 5000, quantity=2)]  # 2 seats x 50.00 a month
BASIC = [cp.item("basic-USD-Monthly", 2000)]


# -- settings and authentication -----------------------------------------------------------------


async def test_connect_issues_credentials_once_and_keeps_only_a_hash(
    client: httpx.AsyncClient, tenant: TenantInfo, conn: AsyncConnection
) -> None:
    before = (await client.get(URL, headers=tenant.headers)).json()
    assert (before["credentials_set"], before["username"]) == (False, None)
    creds = await connect(client, tenant, {"username": "cb-acme"})
    assert creds["webhook_url"] == f"http://holdfast.test{URL}/webhook/{tenant.id}"
    assert creds["username"] == "cb-acme"
    assert len(creds["password"]) >= 32
    after = await client.get(URL, headers=tenant.headers)
    assert after.json() == {k: v for k, v in creds.items() if k != "password"}
    stored = await conn.scalar(
        text("SELECT password_sha256 FROM chargebee_endpoints WHERE tenant_id = :t"),
        {"t": tenant.id},
    )
    assert creds["password"] not in (stored or "") + after.text
    again = await connect(client, tenant)  # reconnecting issues new credentials
    assert (again["username"], again["password"] != creds["password"]) == ("holdfast", True)


@pytest.mark.parametrize(
    "body", [{"username": "a:b"}, {"username": ""}, {"username": "x" * 101}, {"password": "mine"}]
)
async def test_connect_rejects_bad_user_names_and_chosen_passwords(
    client: httpx.AsyncClient, tenant: TenantInfo, body: dict[str, Any]
) -> None:
    response = await client.put(URL, json=body, headers=tenant.headers)
    assert response.status_code == 422


@pytest.mark.parametrize("scopes", [["read"], ["events:write"]])
async def test_only_admins_connect_or_read_chargebee_settings(
    client: httpx.AsyncClient, tenant: TenantInfo, scopes: list[str]
) -> None:
    key = await make_key(client, tenant, *scopes)
    put = await client.put(URL, headers=bearer(key))
    get = await client.get(URL, headers=bearer(key))
    assert (put.status_code, get.status_code) == (403, 403)


async def test_wrong_missing_and_foreign_credentials_unknown_tenants_look_the_same(
    cb: Chargebee, client: httpx.AsyncClient, other_tenant: TenantInfo, conn: AsyncConnection
) -> None:
    payload = cp.subscription_event("subscription_activated", NOW, "ev_x", items=PRO)
    user, password = cb.creds["username"], cb.creds["password"]
    answers = [
        await cb.post(payload, headers={}),
        await cb.post(payload, headers=cp.basic(user, password + "x")),
        await cb.post(payload, headers=cp.basic("someone", password)),
        await cb.post(payload, headers={"Authorization": f"Bearer {password}"}),
        await cb.post(payload, headers={"Authorization": "Basic !!!"}),
        await cb.post(payload, headers={"Authorization": "Basic " + "YWJj"}),  # "abc": no colon
    ]
    # Another tenant's credentials open nothing here, and nothing there without its own.
    other = Chargebee(client, other_tenant, await connect(client, other_tenant))
    answers.append(await other.post(payload, headers=cp.basic(user, password)))
    for path in ("00000000-0000-4000-8000-000000000000", "not-a-uuid"):
        answers.append(
            await client.post(
                f"{URL}/webhook/{path}", json=payload, headers=cp.basic(user, password)
            )
        )
    assert {a.status_code for a in answers} == {400}
    assert len({(a.json()["type"], a.json()["title"]) for a in answers}) == 1
    assert await event_count(conn, cb.tenant) == 0
    assert (await cb.post(payload)).status_code == 200


async def test_an_authenticated_body_that_is_not_an_event_is_400(cb: Chargebee) -> None:
    for payload in ([1, 2], "text"):
        assert (await cb.post(payload)).status_code == 400
    response = await cb.client.post(
        hook_url(cb.tenant),
        content=b"{not json",
        headers={
            "Content-Type": "application/json",
            **cp.basic(cb.creds["username"], cb.creds["password"]),
        },
    )
    assert response.status_code == 400


# -- mapping -------------------------------------------------------------------------------------


async def test_trial_active_downgrade_cancel_at_term_end_and_reactivation(
    cb: Chargebee, conn: AsyncConnection
) -> None:
    t0 = NOW - timedelta(days=90)
    activated = t0 + timedelta(days=14)
    downgraded = t0 + timedelta(days=30)
    scheduled = t0 + timedelta(days=40)
    term_end = t0 + timedelta(days=44)
    reactivated = t0 + timedelta(days=70)

    trial = await cb.ok(
        cp.subscription_event("subscription_created", t0, "ev_1", status="in_trial")
    )
    assert trial["status"] == "ignored"
    await cb.ok(cp.subscription_event("subscription_activated", activated, "ev_2", items=PRO))
    paid = await cb.ok(
        cp.event(
            "payment_succeeded",
            {
                "transaction": cp.transaction(10_000),
                "invoice": cp.invoice(10_000),
                "customer": cp.customer(),
            },
            activated,
            "ev_3",
        )
    )
    assert [e["type"] for e in paid["events"]] == ["purchase"]
    await cb.ok(cp.subscription_event("subscription_changed", downgraded, "ev_4", items=BASIC))
    receipt = await cb.ok(
        cp.subscription_event(
            "subscription_cancellation_scheduled",
            scheduled,
            "ev_5",
            status="non_renewing",
            items=BASIC,
            cancelled_at=term_end,
            term_end=term_end,
        )
    )
    assert [e["type"] for e in receipt["events"]] == ["plan_change", "resume", "cancellation"]
    await cb.ok(
        cp.subscription_event(
            "subscription_cancelled",
            term_end,
            "ev_6",
            status="cancelled",
            items=BASIC,
            cancelled_at=term_end,
        )
    )
    assert (await cb.customer())["status"] == "cancelled"
    await cb.ok(cp.subscription_event("subscription_reactivated", reactivated, "ev_7", items=BASIC))

    state = await cb.customer()
    assert (state["status"], state["plan"], state["mrr"]) == ("active", "basic-USD-Monthly", 2000)
    assert state["reactivated_at"] == iso(reactivated)
    assert [(k, s, m, at) for k, s, m, at in await history(conn, cb.tenant)] == [
        ("new", "active", 10_000, activated),
        ("mrr_changed", "active", 2000, downgraded),
        ("churned", "cancelled", 0, term_end),
        ("reactivated", "active", 2000, reactivated),
    ]
    response = await cb.client.get(
        "/v1/metrics/churn",
        params={"start": iso(t0), "end": iso(NOW), "granularity": "day"},
        headers=cb.tenant.headers,
    )
    periods = response.json()["periods"]
    assert sum(p["new"] for p in periods) == 1
    assert sum(p["churned"] for p in periods) == 1
    assert sum(p["reactivated"] for p in periods) == 1
    assert sum(p["mrr_churned"] for p in periods) == 2000
    assert (periods[-1]["customers_at_end"], periods[-1]["mrr_at_end"]) == (1, 2000)


async def test_a_removed_scheduled_cancellation_keeps_the_customer(
    cb: Chargebee, conn: AsyncConnection
) -> None:
    t0 = NOW - timedelta(days=10)
    term_end = NOW + timedelta(days=20)
    await cb.ok(cp.subscription_event("subscription_activated", t0, "ev_a", items=PRO))
    await cb.ok(
        cp.subscription_event(
            "subscription_cancellation_scheduled",
            t0 + timedelta(days=1),
            "ev_b",
            status="non_renewing",
            items=PRO,
            cancelled_at=term_end,
        )
    )
    pending = (await cb.customer())["pending_cancellation"]
    assert pending["effective_at"] == iso(term_end)
    await cb.ok(
        cp.subscription_event(
            "subscription_scheduled_cancellation_removed", t0 + timedelta(days=2), "ev_c", items=PRO
        )
    )
    state = await cb.customer()
    assert (state["status"], state["pending_cancellation"]) == ("active", None)
    assert [k for k, *_ in await history(conn, cb.tenant)] == ["new"]


async def test_pause_until_the_resume_date_and_resume(cb: Chargebee, conn: AsyncConnection) -> None:
    t0 = NOW - timedelta(days=20)
    paused = t0 + timedelta(days=5)
    resume_on = NOW + timedelta(days=15)
    await cb.ok(cp.subscription_event("subscription_activated", t0, "ev_p1", items=PRO))
    await cb.ok(
        cp.subscription_event(
            "subscription_paused",
            paused,
            "ev_p2",
            status="paused",
            items=PRO,
            pause_date=paused,
            resume_date=resume_on,
        )
    )
    state = await cb.customer()
    assert (state["status"], state["mrr"], state["paused_until"]) == ("paused", 0, iso(resume_on))
    resumed = t0 + timedelta(days=8)
    await cb.ok(cp.subscription_event("subscription_resumed", resumed, "ev_p3", items=PRO))
    state = await cb.customer()
    assert (state["status"], state["mrr"]) == ("active", 10_000)
    assert [(k, at) for k, _, _, at in await history(conn, cb.tenant)] == [
        ("new", t0),
        ("paused", paused),
        ("resumed", resumed),
    ]


async def test_mrr_from_items_and_billing_period_and_the_older_catalog(cb: Chargebee) -> None:
    items = [
        cp.item("pro-USD-Yearly", 120_000),  # 100.00 a month
        cp.item("seats-USD-Yearly", 1200, quantity=10, item_type="addon"),  # 10.00 a month
        cp.item("setup-USD", 50_000, item_type="charge"),  # one-off
    ]
    await cb.ok(
        cp.subscription_event(
            "subscription_created", NOW, "ev_y", items=items, billing_period_unit="year"
        )
    )
    state = await cb.customer()
    assert (state["plan"], state["mrr"], state["currency"]) == ("pro-USD-Yearly", 11_000, "USD")

    old = cp.subscription(items=[], customer_id="cus_v1", billing_period=3)
    old.pop("subscription_items")
    old.update(
        plan_id="basic-quarterly",
        plan_quantity=1,
        plan_unit_price=9000,
        addons=[{"id": "extra", "quantity": 2, "unit_price": 1500, "amount": 3000}],
    )
    await cb.ok(
        cp.event(
            "subscription_created",
            {"subscription": old, "customer": cp.customer("cus_v1")},
            NOW,
            "ev_v1",
        )
    )
    v1 = await cb.customer("cus_v1")
    assert (v1["plan"], v1["mrr"]) == ("basic-quarterly", 4000)  # 12000 every 3 months


async def test_failed_payments_carry_the_error_code(cb: Chargebee, conn: AsyncConnection) -> None:
    receipt = await cb.ok(
        cp.event(
            "payment_failed",
            {
                "transaction": cp.transaction(4900, status="failure", error_code="card_declined"),
                "customer": cp.customer(),
            },
            NOW - timedelta(hours=1),
            "ev_f",
        )
    )
    assert [e["type"] for e in receipt["events"]] == ["payment_failed"]
    row = (
        await conn.execute(
            text("SELECT amount, currency, reason, properties FROM events WHERE tenant_id = :t"),
            {"t": cb.tenant.id},
        )
    ).one()
    assert (row.amount, row.currency, row.reason) == (4900, "USD", "card_declined")
    assert row.properties["chargebee_transaction"] == "txn_16CRibSTR4kNTEHwG"


async def test_unmapped_types_are_acknowledged_and_ignored(
    cb: Chargebee, conn: AsyncConnection
) -> None:
    receipt = await cb.ok(cp.event("customer_changed", {"customer": cp.customer()}, NOW, "ev_u"))
    assert receipt == {
        "received": True,
        "chargebee_event_id": "ev_u",
        "chargebee_event_type": "customer_changed",
        "status": "ignored",
        "events": [],
    }
    assert await event_count(conn, cb.tenant) == 0


async def test_an_event_that_cannot_be_mapped_is_422_and_stores_nothing(
    cb: Chargebee, conn: AsyncConnection
) -> None:
    no_customer = cp.event(
        "subscription_activated", {"subscription": cp.subscription(customer_id="")}, NOW, "ev_n"
    )
    response = await cb.post(no_customer)
    assert response.status_code == 422
    assert ["body", "content", "customer", "id"] in [e["loc"] for e in response.json()["errors"]]
    bad_time = cp.subscription_event("subscription_activated", NOW, "ev_t")
    bad_time["occurred_at"] = "2026-01-01"
    assert (await cb.post(bad_time)).status_code == 422
    assert await event_count(conn, cb.tenant) == 0


async def test_redelivery_is_a_duplicate_and_late_events_do_not_overwrite(cb: Chargebee) -> None:
    t0 = NOW - timedelta(days=5)
    newer = cp.subscription_event(
        "subscription_changed", t0 + timedelta(days=1), "ev_new", items=BASIC
    )
    first = await cb.ok(newer)
    again = await cb.ok(newer)
    assert (first["status"], again["status"]) == ("recorded", "duplicate")
    await cb.ok(cp.subscription_event("subscription_created", t0, "ev_old", items=PRO))
    state = await cb.customer()
    assert (state["plan"], state["mrr"], state["subscribed_at"]) == (
        "basic-USD-Monthly",
        2000,
        iso(t0),
    )
