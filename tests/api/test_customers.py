"""Customer state through the API: folding, pending cancellation, reactivation, timeline."""

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.conftest import TenantInfo, make_tenant
from tests.factories import at, event, post_batch, purchase, subscribe


async def get(
    client: httpx.AsyncClient, tenant: TenantInfo, customer: str = "cus_1"
) -> dict[str, Any]:
    response = await client.get(f"/v1/customers/{customer}", headers=tenant.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def history(
    conn: AsyncConnection, tenant: TenantInfo, customer: str = "cus_1"
) -> list[tuple[Any, ...]]:
    rows = await conn.execute(
        text(
            "SELECT effective_at, seq, kind, status, previous_status, plan, mrr, previous_mrr,"
            " reason"
            " FROM customer_status_changes WHERE tenant_id = :t AND customer_id = :c"
            " ORDER BY effective_at, seq"
        ),
        {"t": tenant.id, "c": customer},
    )
    return [tuple(r) for r in rows]


def iso(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def test_unknown_customer_is_404(client: httpx.AsyncClient, tenant: TenantInfo) -> None:
    response = await client.get("/v1/customers/nobody", headers=tenant.headers)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_customer_exists_from_its_first_event_as_a_lead(
    client: httpx.AsyncClient, tenant: TenantInfo
) -> None:
    await post_batch(
        client, tenant.headers, [event("usage", when=at(1)), event("feedback", when=at(2), nps=8)]
    )
    customer = await get(client, tenant)
    assert customer["status"] == "lead"
    assert customer["first_seen_at"] == at(1) and customer["last_seen_at"] == at(2)
    assert customer["nps"] == {"latest": 8, "previous": None, "at": at(2)}
    assert customer["mrr"] == 0 and customer["subscribed_at"] is None


async def test_full_state_after_a_realistic_history(
    client: httpx.AsyncClient, tenant: TenantInfo, conn: AsyncConnection
) -> None:
    await post_batch(
        client,
        tenant.headers,
        [
            subscribe(when=at(0), mrr=4900, plan="pro"),
            event("usage", when=at(1), quantity=3),
            event("usage", when=at(1, 5), quantity=2),
            event("usage", when=at(2)),
            event("payment_failed", when=at(30), amount=4900, currency="USD"),
            purchase(when=at(31), amount=4900, mrr=4900),
            event("plan_change", when=at(40), plan="team", mrr=9900),
            event("feedback", when=at(41), nps=9),
            event("feedback", when=at(50), nps=4),
        ],
    )
    c = await get(client, tenant)
    assert (c["status"], c["plan"], c["mrr"], c["currency"]) == ("active", "team", 9900, "USD")
    assert c["counters"] == {
        "events": 9,
        "usage_events": 3,
        "usage_quantity": 6,
        "purchases": 2,
        "payment_failures": 1,
    }
    assert c["revenue"] == [{"currency": "USD", "amount": 9800, "purchases": 2}]
    assert (c["lifetime_revenue"], c["lifetime_revenue_currency"]) == (9800, "USD")
    assert c["last_usage_at"] == at(2) and c["last_purchase_at"] == at(31)
    assert c["last_payment_failed_at"] == at(30)
    assert c["nps"] == {"latest": 4, "previous": 9, "at": at(50)}
    assert [(h[2], h[6]) for h in await history(conn, tenant)] == [
        ("new", 4900),
        ("mrr_changed", 9900),
    ]
    usage = (
        await conn.execute(
            text("SELECT day, quantity, events FROM usage_daily WHERE tenant_id = :t ORDER BY day"),
            {"t": tenant.id},
        )
    ).all()
    assert [(str(d), q, n) for d, q, n in usage] == [("2026-01-02", 5, 2), ("2026-01-03", 1, 1)]


async def test_pending_cancellation_is_not_churn_until_effective(
    client: httpx.AsyncClient, tenant: TenantInfo, conn: AsyncConnection
) -> None:
    now = datetime.now(UTC)
    effective = (now + timedelta(days=20)).isoformat()
    await post_batch(
        client,
        tenant.headers,
        [
            subscribe(when=(now - timedelta(days=60)).isoformat()),
            event(
                "cancellation",
                when=(now - timedelta(days=1)).isoformat(),
                reason="too_expensive",
                effective_at=effective,
            ),
        ],
    )
    c = await get(client, tenant)
    assert c["status"] == "active" and c["mrr"] == 4900
    assert c["pending_cancellation"]["reason"] == "too_expensive"
    assert iso(c["pending_cancellation"]["effective_at"]) == iso(effective)
    assert c["cancelled_at"] is None
    changes = await history(conn, tenant)
    assert [(h[2], h[0]) for h in changes][-1] == ("churned", iso(effective))


async def test_cancellation_effective_in_the_past_shows_as_cancelled_now(
    client: httpx.AsyncClient, tenant: TenantInfo
) -> None:
    await post_batch(
        client,
        tenant.headers,
        [
            subscribe(when=at(0)),
            event("cancellation", when=at(10), reason="unused", effective_at=at(31)),
        ],
    )
    c = await get(client, tenant)
    assert c["status"] == "cancelled" and c["mrr"] == 0
    assert c["cancelled_at"] == at(31) and c["cancel_reason"] == "unused"
    assert c["pending_cancellation"] is None


async def test_pause_resume_and_pause_ending_by_itself(
    client: httpx.AsyncClient, tenant: TenantInfo, conn: AsyncConnection
) -> None:
    now = datetime.now(UTC)
    await post_batch(
        client,
        tenant.headers,
        [
            subscribe("a", when=at(0)),
            event("pause", "a", when=at(5), resume_at=at(20)),
            subscribe("b", when=at(0)),
            event("pause", "b", when=at(5)),
            subscribe("c", when=at(0)),
            event("pause", "c", when=at(5)),
            event("resume", "c", when=at(8)),
            subscribe("d", when=at(0)),
            event(
                "pause",
                "d",
                when=(now - timedelta(days=1)).isoformat(),
                resume_at=(now + timedelta(days=30)).isoformat(),
            ),
        ],
    )
    a, b, c, d = [await get(client, tenant, x) for x in "abcd"]
    assert (a["status"], a["mrr"], a["paused_until"]) == ("active", 4900, None)
    assert (b["status"], b["mrr"], b["plan_mrr"]) == ("paused", 0, 4900)
    assert c["status"] == "active"
    assert d["status"] == "paused" and d["paused_until"] is not None
    assert [h[2] for h in await history(conn, tenant, "a")] == ["new", "paused", "resumed"]


async def test_reactivation_by_purchase_and_by_resume(
    client: httpx.AsyncClient, tenant: TenantInfo, conn: AsyncConnection
) -> None:
    await post_batch(
        client,
        tenant.headers,
        [
            subscribe("a", when=at(0)),
            event("cancellation", "a", when=at(10)),
            purchase("a", when=at(20), mrr=2900),
            subscribe("b", when=at(0)),
            event("cancellation", "b", when=at(10)),
            event("resume", "b", when=at(15)),
        ],
    )
    a, b = await get(client, tenant, "a"), await get(client, tenant, "b")
    assert (a["status"], a["mrr"], a["reactivated_at"]) == ("active", 2900, at(20))
    assert (b["status"], b["mrr"], b["reactivated_at"]) == ("active", 4900, at(15))
    assert [h[2] for h in await history(conn, tenant, "a")] == ["new", "churned", "reactivated"]


async def test_a_late_older_event_refolds_the_customer(
    client: httpx.AsyncClient, tenant: TenantInfo, conn: AsyncConnection
) -> None:
    # The cancellation arrives before the purchase that started the subscription.
    await post_batch(client, tenant.headers, [event("cancellation", when=at(10), reason="unused")])
    assert (await get(client, tenant))["status"] == "lead"
    await post_batch(client, tenant.headers, [subscribe(when=at(0))])
    c = await get(client, tenant)
    assert (c["status"], c["cancelled_at"], c["cancel_reason"]) == ("cancelled", at(10), "unused")
    assert [h[2] for h in await history(conn, tenant)] == ["new", "churned"]


async def test_timeline_is_newest_first_with_cursor_and_type_filter(
    client: httpx.AsyncClient, tenant: TenantInfo
) -> None:
    events = [event("usage", when=at(i), quantity=i + 1) for i in range(7)]
    events += [subscribe(when=at(3)), event("feedback", when=at(3), nps=5)]
    await post_batch(client, tenant.headers, events)
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 4}
        if cursor:
            params["cursor"] = cursor
        page = (
            await client.get("/v1/customers/cus_1/events", params=params, headers=tenant.headers)
        ).json()
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 9 and len({e["id"] for e in seen}) == 9
    keys = [(e["occurred_at"], e["id"]) for e in seen]
    assert keys == sorted(keys, reverse=True)
    filtered = (
        await client.get(
            "/v1/customers/cus_1/events",
            params=[("type", "purchase"), ("type", "feedback")],
            headers=tenant.headers,
        )
    ).json()
    assert {e["type"] for e in filtered["items"]} == {"purchase", "feedback"}
    assert len(filtered["items"]) == 2


@pytest.mark.parametrize("cursor", ["garbage", "Zm9v", "MjAyNnwx"])
async def test_bad_cursor_is_422(
    client: httpx.AsyncClient, tenant: TenantInfo, cursor: str
) -> None:
    await post_batch(client, tenant.headers, [event("usage")])
    response = await client.get(
        "/v1/customers/cus_1/events", params={"cursor": cursor}, headers=tenant.headers
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["query", "cursor"]


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 501}, {"type": "refund"}])
async def test_bad_timeline_parameters_are_422(
    client: httpx.AsyncClient, tenant: TenantInfo, params: dict[str, Any]
) -> None:
    await post_batch(client, tenant.headers, [event("usage")])
    response = await client.get("/v1/customers/cus_1/events", params=params, headers=tenant.headers)
    assert response.status_code == 422


# -- arrival order does not matter ------------------------------------------------------------

KINDS = [
    "purchase",
    "usage",
    "cancellation",
    "pause",
    "resume",
    "plan_change",
    "payment_failed",
    "feedback",
]


@st.composite
def histories(draw: st.DrawFn) -> list[dict[str, Any]]:
    events = []
    for i in range(draw(st.integers(min_value=1, max_value=18))):
        kind = draw(st.sampled_from(KINDS))
        when = draw(st.integers(min_value=0, max_value=30))
        payload = event(kind, "cus_p", at(when), idempotency_key=f"k{i:02d}")
        if kind == "purchase":
            payload.update(amount=100, currency="USD")
            mrr = draw(st.sampled_from([None, 0, 500, 1000]))
            if mrr is not None:
                payload["mrr"] = mrr
        elif kind == "plan_change":
            payload.update(
                plan=draw(st.sampled_from(["a", "b"])), mrr=draw(st.sampled_from([0, 700, 2000]))
            )
        elif kind == "cancellation" and draw(st.booleans()):
            payload["effective_at"] = at(when + 5)
        elif kind == "pause" and draw(st.booleans()):
            payload["resume_at"] = at(when + 3)
        elif kind == "feedback":
            payload["nps"] = draw(st.integers(0, 10))
        elif kind == "usage":
            payload["quantity"] = draw(st.integers(0, 5))
        events.append(payload)
    return events


def batches(events: list[dict[str, Any]], rnd: random.Random) -> list[list[dict[str, Any]]]:
    shuffled = list(events)
    rnd.shuffle(shuffled)
    out, i = [], 0
    while i < len(shuffled):
        size = rnd.randint(1, 4)
        out.append(shuffled[i : i + size])
        i += size
    return out


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(events=histories(), rnd=st.randoms(use_true_random=False))
async def test_any_arrival_order_gives_the_same_state_and_history(
    client: httpx.AsyncClient,
    conn: AsyncConnection,
    events: list[dict[str, Any]],
    rnd: random.Random,
) -> None:
    in_order, shuffled = await make_tenant(conn, "ordered"), await make_tenant(conn, "shuffled")
    for event_ in sorted(events, key=lambda e: (e["occurred_at"], e["idempotency_key"])):
        await post_batch(client, in_order.headers, [event_])
    for batch in batches(events, rnd):
        await post_batch(client, shuffled.headers, batch)
    expected = {**await get(client, in_order, "cus_p"), "as_of": None}
    actual = {**await get(client, shuffled, "cus_p"), "as_of": None}
    assert actual == expected
    assert await history(conn, shuffled, "cus_p") == await history(conn, in_order, "cus_p")


async def test_discount_is_shown_and_ends_by_itself(
    client: httpx.AsyncClient, tenant: TenantInfo, conn: AsyncConnection
) -> None:
    now = datetime.now(UTC)
    until = (now + timedelta(days=60)).isoformat()
    await post_batch(
        client,
        tenant.headers,
        [
            subscribe(when=at(0), mrr=4000),
            event(
                "plan_change",
                when=(now - timedelta(days=1)).isoformat(),
                plan="pro",
                mrr=3000,
                discount_until=until,
            ),
        ],
    )
    c = await get(client, tenant)
    assert c["mrr"] == 3000
    assert c["discount"]["base_mrr"] == 4000
    assert iso(c["discount"]["until"]) == iso(until)
    changes = await history(conn, tenant)
    assert [(h[2], h[6]) for h in changes] == [
        ("new", 4000),
        ("mrr_changed", 3000),
        ("mrr_changed", 4000),
    ]
    bad = await client.post(
        "/v1/events",
        json=event("plan_change", plan="pro", discount_until=until),
        headers=tenant.headers,
    )
    assert bad.status_code == 422
