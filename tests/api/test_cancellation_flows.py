"""Cancellation flows through the API: starting, each offer kind's effect on the customer,
declining, idempotent and conflicting decisions, abandonment, webhooks and tenant isolation."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.errors import Conflict
from app.offers.flows.decisions import add_months
from tests.api.flow_helpers import (
    accept,
    accept_at,
    completed_webhooks,
    customer,
    decline,
    iso,
    offer_of,
    set_up_catalog,
    shown_offer_ids,
    start,
    start_at,
    started,
    status_changes,
    subscribe_to_flow_webhooks,
    subscribers,
)
from tests.conftest import TenantInfo, bearer, make_key
from tests.factories import at, event, post_batch

PROBLEM = "application/problem+json"


@pytest.fixture
async def shop(client: httpx.AsyncClient, tenant: TenantInfo) -> TenantInfo:
    """A tenant with plans basic < pro < team, subscriber cus_1 on pro (4900 USD) since
    2026-01-01, and a webhook endpoint for flow outcomes."""
    await set_up_catalog(client, tenant)
    await subscribers(client, tenant, "cus_1")
    await subscribe_to_flow_webhooks(client, tenant)
    return tenant


async def add_offer(client: httpx.AsyncClient, tenant: TenantInfo, **body: Any) -> dict[str, Any]:
    payload = {"title": "An offer", "priority": 100, "rules": [], **body}
    response = await client.post("/v1/offers", json=payload, headers=tenant.headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def test_start_ranks_the_eligible_offers_and_records_the_flow(
    client: httpx.AsyncClient, shop: TenantInfo, conn: AsyncConnection
) -> None:
    flow = await started(client, shop, reason="too_expensive", comment="Budget cuts")
    assert flow["status"] == "open" and flow["variant"] == "treatment"
    assert iso(flow["expires_at"]) - iso(flow["created_at"]) == timedelta(hours=24)
    assert [o["rank"] for o in flow["offers"]] == list(range(1, len(flow["offers"]) + 1))
    # The default pause offer targets "unused"/"too_complex" only; the custom one
    # "missing_features": neither applies to "too expensive".
    assert {o["kind"] for o in flow["offers"]} <= {"downgrade", "discount"}
    downgrade = offer_of(flow, "downgrade")
    assert downgrade["rank"] == 1  # priority 20 beats the discount's 10
    assert downgrade["params"] == {"target_plan_id": "basic", "price": 1900, "currency": "USD"}

    row = (
        await conn.execute(
            text(
                "SELECT reason, comment, customer_status, plan, plan_mrr, mrr, currency,"
                " health_tier, offers_shown, offers_withheld FROM cancellation_flows"
                " WHERE tenant_id = :t AND id = :id"
            ),
            {"t": shop.id, "id": flow["flow_id"]},
        )
    ).one()
    assert (row.reason, row.comment, row.customer_status) == (
        "too_expensive",
        "Budget cuts",
        "active",
    )
    assert (row.plan, row.plan_mrr, row.mrr, row.currency) == ("pro", 4900, 4900, "USD")
    assert [o["offer_id"] for o in row.offers_shown] == [o["offer_id"] for o in flow["offers"]]
    assert row.offers_withheld == []

    fetched = await client.get(f"/v1/cancellation-flows/{flow['flow_id']}", headers=shop.headers)
    assert fetched.status_code == 200
    assert fetched.json() == flow


async def test_offers_are_capped_at_three_and_ordered_by_priority(
    client: httpx.AsyncClient, shop: TenantInfo
) -> None:
    made = [
        await add_offer(client, shop, kind="custom", title=f"Offer {p}", priority=p)
        for p in (30, 50, 40, 60)
    ]
    flow = await started(client, shop, reason="other")
    assert len(flow["offers"]) == 3
    by_priority = sorted(made, key=lambda o: -o["priority"])
    assert [o["offer_id"] for o in flow["offers"]] == [o["id"] for o in by_priority[:3]]


async def test_downgrade_needs_a_cheaper_active_plan(
    client: httpx.AsyncClient, shop: TenantInfo
) -> None:
    await subscribers(client, shop, "cus_basic", plan="basic")
    flow = await started(client, shop, "cus_basic", reason="too_expensive")
    assert "downgrade" not in {o["kind"] for o in flow["offers"]}


async def test_accepting_a_pause_pauses_the_customer(
    client: httpx.AsyncClient, shop: TenantInfo, conn: AsyncConnection
) -> None:
    flow = await started(client, shop, reason="unused", comment="Not using it this season")
    pause = offer_of(flow, "pause")
    assert pause["params"] == {"months": 3, "min_months": 1}
    response = await accept(client, shop, flow["flow_id"], pause["offer_id"], months=2)
    assert response.status_code == 200, response.text
    decided = response.json()
    assert decided["status"] == "accepted"
    resume_at = add_months(iso(decided["decided_at"]), 2)
    assert decided["accepted_offer"]["kind"] == "pause"
    assert decided["accepted_offer"]["params"] == {"months": 2, "resume_at": resume_at.isoformat()}

    state = await customer(client, shop)
    assert state["status"] == "paused" and state["mrr"] == 0 and state["plan_mrr"] == 4900
    assert iso(state["paused_until"]) == resume_at
    history = await status_changes(conn, shop)
    assert [h["kind"] for h in history] == ["new", "paused", "resumed"]
    assert history[-1]["effective_at"] == resume_at
    assert "churned" not in {h["kind"] for h in history}

    events = (await client.get("/v1/customers/cus_1/events", headers=shop.headers)).json()
    pause_event = events["items"][0]
    assert pause_event["type"] == "pause" and pause_event["source"] == "flow"
    assert pause_event["idempotency_key"] == f"flow:{flow['flow_id']}:accept"
    assert decided["event_ids"] == [pause_event["id"]]
    assert pause_event["properties"]["cancellation_flow_id"] == flow["flow_id"]

    [hook] = await completed_webhooks(conn, shop)
    assert hook["flow_id"] == flow["flow_id"] and hook["customer_id"] == "cus_1"
    assert (hook["outcome"], hook["variant"], hook["reason"]) == ("accepted", "treatment", "unused")
    assert hook["offer"]["kind"] == "pause" and hook["offer"]["params"]["months"] == 2
    assert hook["comment"] == "Not using it this season"


async def test_a_pause_defaults_to_the_longest_and_must_fit_the_offer(
    client: httpx.AsyncClient, shop: TenantInfo
) -> None:
    flow = await started(client, shop, reason="too_complex")
    pause = offer_of(flow, "pause")
    for months in (4, 0):
        refused = await accept(client, shop, flow["flow_id"], pause["offer_id"], months=months)
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"][0]["loc"][:2] == ["body", "months"]
    response = await accept(client, shop, flow["flow_id"], pause["offer_id"])
    assert response.status_code == 200
    assert response.json()["accepted_offer"]["params"]["months"] == 3


async def test_accepting_a_downgrade_is_a_contraction_not_a_churn(
    client: httpx.AsyncClient, shop: TenantInfo, conn: AsyncConnection
) -> None:
    flow = await started(client, shop, reason="too_expensive")
    response = await accept(client, shop, flow["flow_id"], offer_of(flow, "downgrade")["offer_id"])
    assert response.status_code == 200, response.text
    assert response.json()["accepted_offer"]["params"] == {
        "from_plan": "pro",
        "target_plan_id": "basic",
        "price": 1900,
        "currency": "USD",
    }
    state = await customer(client, shop)
    assert (state["status"], state["plan"], state["mrr"]) == ("active", "basic", 1900)
    last = (await status_changes(conn, shop))[-1]
    assert (last["kind"], last["plan"], last["previous_mrr"], last["mrr"]) == (
        "mrr_changed",
        "basic",
        4900,
        1900,
    )
    assert last["mrr"] < last["previous_mrr"]  # contraction
    assert "churned" not in {h["kind"] for h in await status_changes(conn, shop)}


async def test_accepting_a_discount_lowers_mrr_until_it_ends(
    client: httpx.AsyncClient, shop: TenantInfo, conn: AsyncConnection
) -> None:
    offer = await add_offer(
        client, shop, kind="discount", title="30% off", params={"percent": 30, "months": 2}
    )
    flow = await started(client, shop, reason="too_expensive")
    assert flow["offers"][0]["offer_id"] == offer["id"]
    response = await accept(client, shop, flow["flow_id"], offer["id"])
    assert response.status_code == 200, response.text
    decided = response.json()
    until = add_months(iso(decided["decided_at"]), 2)
    assert decided["accepted_offer"]["params"] == {
        "percent": 30,
        "months": 2,
        "plan": "pro",
        "base_mrr": 4900,
        "mrr": 3430,
        "currency": "USD",
        "discount_until": until.isoformat(),
    }
    state = await customer(client, shop)
    assert (state["status"], state["plan"], state["mrr"]) == ("active", "pro", 3430)
    assert iso(state["discount"]["until"]) == until and state["discount"]["base_mrr"] == 4900
    history = await status_changes(conn, shop)
    assert [(h["kind"], h["mrr"]) for h in history[-2:]] == [
        ("mrr_changed", 3430),
        ("mrr_changed", 4900),
    ]
    assert history[-1]["effective_at"] == until


async def test_a_second_discount_is_not_offered_while_one_runs(
    client: httpx.AsyncClient, shop: TenantInfo
) -> None:
    offer = await add_offer(
        client, shop, kind="discount", title="30% off", params={"percent": 30, "months": 2}
    )
    flow = await started(client, shop, reason="too_expensive")
    assert (await accept(client, shop, flow["flow_id"], offer["id"])).status_code == 200
    again = await started(client, shop, reason="too_expensive")
    assert "discount" not in {o["kind"] for o in again["offers"]}


async def test_accepting_a_custom_offer_changes_no_billing_state(
    client: httpx.AsyncClient, shop: TenantInfo, conn: AsyncConnection
) -> None:
    flow = await started(client, shop, reason="missing_features")
    custom = offer_of(flow, "custom")
    before = await customer(client, shop)
    response = await accept(client, shop, flow["flow_id"], custom["offer_id"])
    assert response.status_code == 200, response.text
    decided = response.json()
    assert decided["event_ids"] == []
    assert decided["accepted_offer"]["params"] == {"payload": {"action": "feature_request"}}
    after = await customer(client, shop)
    assert {k: v for k, v in after.items() if k != "as_of"} == {
        k: v for k, v in before.items() if k != "as_of"
    }
    [hook] = await completed_webhooks(conn, shop)
    assert hook["offer"]["params"] == {"payload": {"action": "feature_request"}}


async def test_accepting_withdraws_a_pending_cancellation(
    client: httpx.AsyncClient, shop: TenantInfo, conn: AsyncConnection
) -> None:
    soon = (datetime.now(UTC) + timedelta(days=10)).isoformat()
    await post_batch(
        client,
        shop.headers,
        [event("cancellation", "cus_1", at(300), reason="unused", effective_at=soon)],
    )
    assert (await customer(client, shop))["pending_cancellation"] is not None
    flow = await started(client, shop, reason="unused")
    response = await accept(client, shop, flow["flow_id"], offer_of(flow, "pause")["offer_id"])
    assert response.status_code == 200, response.text
    assert len(response.json()["event_ids"]) == 2  # the withdrawal, then the pause
    state = await customer(client, shop)
    assert state["status"] == "paused" and state["pending_cancellation"] is None
    assert "churned" not in {h["kind"] for h in await status_changes(conn, shop)}


async def test_declining_cancels_now_with_the_flows_reason(
    client: httpx.AsyncClient, shop: TenantInfo, conn: AsyncConnection
) -> None:
    flow = await started(client, shop, reason="switched_service", comment="Found another tool")
    response = await decline(client, shop, flow["flow_id"])
    assert response.status_code == 200, response.text
    decided = response.json()
    assert decided["status"] == "declined"
    assert decided["cancel_effective_at"] == decided["decided_at"]
    state = await customer(client, shop)
    assert (state["status"], state["cancel_reason"]) == ("cancelled", "switched_service")
    assert state["cancelled_at"] == decided["decided_at"]
    last = (await status_changes(conn, shop))[-1]
    assert (last["kind"], last["reason"], last["previous_mrr"]) == (
        "churned",
        "switched_service",
        4900,
    )
    events = (await client.get("/v1/customers/cus_1/events", headers=shop.headers)).json()
    assert events["items"][0]["comment"] == "Found another tool"
    [hook] = await completed_webhooks(conn, shop)
    assert (hook["outcome"], hook["offer"]) == ("declined", None)
    assert iso(hook["cancel_effective_at"]) == iso(decided["cancel_effective_at"])


async def test_declining_at_period_end_leaves_the_cancellation_pending(
    client: httpx.AsyncClient, shop: TenantInfo
) -> None:
    flow = await started(client, shop, reason="too_expensive")
    period_end = (datetime.now(UTC) + timedelta(days=12)).replace(microsecond=0)
    response = await decline(client, shop, flow["flow_id"], effective_at=period_end.isoformat())
    assert response.status_code == 200, response.text
    assert iso(response.json()["cancel_effective_at"]) == period_end
    state = await customer(client, shop)
    assert state["status"] == "active"
    assert iso(state["pending_cancellation"]["effective_at"]) == period_end
    assert state["pending_cancellation"]["reason"] == "too_expensive"


@pytest.mark.parametrize(
    "effective_at",
    ["2020-01-01T00:00:00Z", "2100-01-01T00:00:00Z", "2026-01-01T00:00:00", "soon"],
)
async def test_decline_effective_at_must_be_a_near_future_instant(
    client: httpx.AsyncClient, shop: TenantInfo, effective_at: str
) -> None:
    flow = await started(client, shop)
    response = await decline(client, shop, flow["flow_id"], effective_at=effective_at)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["loc"][:2] == ["body", "effective_at"]
    assert (
        await client.get(f"/v1/cancellation-flows/{flow['flow_id']}", headers=shop.headers)
    ).json()["status"] == "open"


async def test_decisions_are_idempotent_and_a_different_one_conflicts(
    client: httpx.AsyncClient, shop: TenantInfo, conn: AsyncConnection
) -> None:
    flow = await started(client, shop, reason="too_expensive")
    downgrade = offer_of(flow, "downgrade")
    first = await accept(client, shop, flow["flow_id"], downgrade["offer_id"])
    again = await accept(client, shop, flow["flow_id"], downgrade["offer_id"])
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    other = [o for o in flow["offers"] if o["offer_id"] != downgrade["offer_id"]]
    for response in [
        await decline(client, shop, flow["flow_id"]),
        *[await accept(client, shop, flow["flow_id"], o["offer_id"]) for o in other],
    ]:
        assert response.status_code == 409, response.text
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["flow_status"] == "accepted"
    events = (await client.get("/v1/customers/cus_1/events", headers=shop.headers)).json()
    assert sum(e["source"] == "flow" for e in events["items"]) == 1
    assert len(await completed_webhooks(conn, shop)) == 1
    assert (await customer(client, shop))["mrr"] == 1900


async def test_a_repeated_decline_is_the_same_decision_unless_it_moves_the_date(
    client: httpx.AsyncClient, shop: TenantInfo
) -> None:
    flow = await started(client, shop, reason="too_expensive")
    period_end = (datetime.now(UTC) + timedelta(days=5)).replace(microsecond=0)
    first = await decline(client, shop, flow["flow_id"], effective_at=period_end.isoformat())
    assert first.status_code == 200
    for body in ({}, {"effective_at": period_end.isoformat()}):
        repeated = await decline(client, shop, flow["flow_id"], **body)
        assert repeated.status_code == 200 and repeated.json() == first.json()
    moved = await decline(
        client, shop, flow["flow_id"], effective_at=(period_end + timedelta(days=1)).isoformat()
    )
    assert moved.status_code == 409
    accepted = await accept(client, shop, flow["flow_id"], flow["offers"][0]["offer_id"])
    assert accepted.status_code == 409


async def test_accepting_an_offer_that_was_not_shown_is_422(
    client: httpx.AsyncClient, shop: TenantInfo
) -> None:
    flow = await started(client, shop, reason="too_expensive")
    offers = (await client.get("/v1/offers?kind=pause", headers=shop.headers)).json()["items"]
    for offer_id in (offers[0]["id"], str(uuid.uuid4())):
        response = await accept(client, shop, flow["flow_id"], offer_id)
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["loc"] == ["body", "offer_id"]
    months = await accept(
        client, shop, flow["flow_id"], offer_of(flow, "downgrade")["offer_id"], months=2
    )
    assert months.status_code == 422
    assert months.json()["errors"][0]["loc"] == ["body", "months"]
    current = await client.get(f"/v1/cancellation-flows/{flow['flow_id']}", headers=shop.headers)
    assert current.json()["status"] == "open"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"reason": "bored"},
        {"reason": "other", "comment": "x" * 2001},
        {"reason": "other", "comment": "nul\x00"},
        {"reason": "other", "tenant_id": "x"},
    ],
)
async def test_invalid_start_bodies_are_422(
    client: httpx.AsyncClient, shop: TenantInfo, body: dict[str, Any]
) -> None:
    response = await client.post(
        "/v1/customers/cus_1/cancellation-flows", json=body, headers=shop.headers
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM


async def test_only_subscribers_can_start_a_flow(
    client: httpx.AsyncClient, shop: TenantInfo
) -> None:
    await post_batch(
        client,
        shop.headers,
        [
            event("usage", "cus_lead", at(1)),
            event("purchase", "cus_gone", at(1), amount=900, currency="USD", mrr=900),
            event("cancellation", "cus_gone", at(2), reason="other"),
        ],
    )
    for customer_id, status in (("cus_lead", "lead"), ("cus_gone", "cancelled")):
        response = await start(client, shop, customer_id)
        assert response.status_code == 409, response.text
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["customer_status"] == status
    unknown = await start(client, shop, "cus_nobody")
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == PROBLEM


async def test_a_paused_subscriber_gets_no_pause_offer(
    client: httpx.AsyncClient, shop: TenantInfo
) -> None:
    await post_batch(client, shop.headers, [event("pause", "cus_1", at(100))])
    flow = await started(client, shop, reason="unused")
    assert "pause" not in {o["kind"] for o in flow["offers"]}


async def test_an_open_flow_is_returned_for_the_same_reason_and_blocks_another(
    client: httpx.AsyncClient, shop: TenantInfo, conn: AsyncConnection
) -> None:
    flow = await started(client, shop, reason="too_expensive")
    retry = await start(client, shop, reason="too_expensive")
    assert retry.status_code == 200
    assert retry.json() == flow
    other = await start(client, shop, reason="unused")
    assert other.status_code == 409
    assert other.json()["flow_id"] == flow["flow_id"]
    count = await conn.scalar(
        text("SELECT count(*) FROM cancellation_flows WHERE tenant_id = :t"), {"t": shop.id}
    )
    assert count == 1
    assert (
        await decline(
            client,
            shop,
            flow["flow_id"],
            effective_at=(datetime.now(UTC) + timedelta(days=3)).isoformat(),
        )
    ).status_code == 200
    # Decided: a new flow may start (the customer is still active until the period ends).
    assert (await start(client, shop, reason="unused")).status_code == 201


async def test_an_undecided_flow_is_abandoned_after_24_hours(
    client: httpx.AsyncClient, shop: TenantInfo, conn: AsyncConnection
) -> None:
    began = datetime.now(UTC) - timedelta(hours=25)
    flow_id = await start_at(conn, shop, "cus_1", began, reason="unused")
    for _ in range(2):
        response = await client.get(f"/v1/cancellation-flows/{flow_id}", headers=shop.headers)
        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "abandoned"
        assert iso(body["decided_at"]) == began + timedelta(hours=24)
    offer_id = body["offers"][0]["offer_id"]
    for refused in (
        await accept(client, shop, str(flow_id), offer_id),
        await decline(client, shop, str(flow_id)),
    ):
        assert refused.status_code == 409, refused.text
        assert refused.json()["flow_status"] == "abandoned"
    [hook] = await completed_webhooks(conn, shop)
    assert (hook["flow_id"], hook["outcome"], hook["offer"]) == (str(flow_id), "abandoned", None)
    assert (await customer(client, shop))["status"] == "active"
    # The customer may start again; the new flow is a new one.
    again = await started(client, shop, reason="unused")
    assert again["flow_id"] != str(flow_id)


async def test_abandonment_is_driven_by_the_clock_not_the_row(
    conn: AsyncConnection, shop: TenantInfo, client: httpx.AsyncClient
) -> None:
    began = datetime.now(UTC) - timedelta(hours=24, minutes=30)
    flow_id = await start_at(conn, shop, "cus_1", began, reason="unused")
    shown, _, _ = await shown_offer_ids(conn, shop, flow_id)
    offer_id = uuid.UUID(next(o["offer_id"] for o in shown if o["kind"] == "pause"))
    with pytest.raises(Conflict, match="abandoned"):
        await accept_at(conn, shop, flow_id, offer_id, began + timedelta(hours=24))
    # A minute before the deadline the decision still counts.
    await accept_at(conn, shop, flow_id, offer_id, began + timedelta(hours=23, minutes=59))
    decided = (await client.get(f"/v1/cancellation-flows/{flow_id}", headers=shop.headers)).json()
    assert decided["status"] == "accepted"
    assert iso(decided["decided_at"]) == began + timedelta(hours=23, minutes=59)
    assert (await customer(client, shop))["status"] == "paused"


async def test_listing_marks_lapsed_flows_abandoned(
    client: httpx.AsyncClient, shop: TenantInfo, conn: AsyncConnection
) -> None:
    old = await start_at(conn, shop, "cus_1", datetime.now(UTC) - timedelta(days=3))
    flow = await started(client, shop, reason="unused")
    listing = await client.get("/v1/customers/cus_1/cancellation-flows", headers=shop.headers)
    assert listing.status_code == 200
    items = listing.json()["items"]
    assert [(i["flow_id"], i["status"]) for i in items] == [
        (flow["flow_id"], "open"),
        (str(old), "abandoned"),
    ]
    stored = await conn.scalar(
        text("SELECT status FROM cancellation_flows WHERE tenant_id = :t AND id = :id"),
        {"t": shop.id, "id": old},
    )
    assert stored == "abandoned"
    missing = await client.get("/v1/customers/cus_nobody/cancellation-flows", headers=shop.headers)
    assert missing.status_code == 404


async def test_starting_a_flow_sweeps_the_tenants_lapsed_flows(
    client: httpx.AsyncClient, shop: TenantInfo, conn: AsyncConnection
) -> None:
    await subscribers(client, shop, "cus_2")
    lapsed = await start_at(conn, shop, "cus_2", datetime.now(UTC) - timedelta(days=2))
    await started(client, shop, "cus_1")
    [hook] = await completed_webhooks(conn, shop)
    assert (hook["flow_id"], hook["outcome"]) == (str(lapsed), "abandoned")


async def test_scopes(client: httpx.AsyncClient, shop: TenantInfo) -> None:
    reader = bearer(await make_key(client, shop, "read"))
    writer = bearer(await make_key(client, shop, "events:write"))
    refused = await client.post(
        "/v1/customers/cus_1/cancellation-flows", json={"reason": "other"}, headers=reader
    )
    assert refused.status_code == 403
    created = await client.post(
        "/v1/customers/cus_1/cancellation-flows", json={"reason": "other"}, headers=writer
    )
    assert created.status_code == 201
    flow_id = created.json()["flow_id"]
    assert (
        await client.get(f"/v1/cancellation-flows/{flow_id}", headers=reader)
    ).status_code == 200
    assert (
        await client.get(f"/v1/cancellation-flows/{flow_id}", headers=writer)
    ).status_code == 403
    assert (
        await client.post(f"/v1/cancellation-flows/{flow_id}/decline", headers=reader)
    ).status_code == 403
    assert (
        await client.post(f"/v1/cancellation-flows/{flow_id}/decline", headers=writer)
    ).status_code == 200


async def test_another_tenant_cannot_see_or_decide_my_flows(
    client: httpx.AsyncClient, shop: TenantInfo, other_tenant: TenantInfo, conn: AsyncConnection
) -> None:
    flow = await started(client, shop, reason="too_expensive")
    offer_id = flow["offers"][0]["offer_id"]
    base = f"/v1/cancellation-flows/{flow['flow_id']}"
    theirs = other_tenant.headers
    assert (await client.get(base, headers=theirs)).status_code == 404
    assert (await accept(client, other_tenant, flow["flow_id"], offer_id)).status_code == 404
    assert (await decline(client, other_tenant, flow["flow_id"])).status_code == 404
    assert (
        await client.get("/v1/customers/cus_1/cancellation-flows", headers=theirs)
    ).status_code == 404
    assert (await start(client, other_tenant, "cus_1")).status_code == 404
    report = await client.get(
        "/v1/cancellation-flows/report",
        params={"start": "2026-01-01T00:00:00Z", "end": "2030-01-01T00:00:00Z"},
        headers=theirs,
    )
    assert report.status_code == 200 and report.json()["totals"]["flows"] == 0
    # Nothing changed for the owner.
    mine = await client.get(base, headers=shop.headers)
    assert mine.json()["status"] == "open"
    assert (await customer(client, shop))["plan"] == "pro"
    assert await completed_webhooks(conn, other_tenant) == []


async def test_a_flow_id_is_a_uuid(client: httpx.AsyncClient, shop: TenantInfo) -> None:
    response = await client.get("/v1/cancellation-flows/not-a-uuid", headers=shop.headers)
    assert response.status_code == 422
    unknown = await client.get(f"/v1/cancellation-flows/{uuid.uuid4()}", headers=shop.headers)
    assert unknown.status_code == 404


async def test_openapi_declares_the_statuses(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    start_op = paths["/v1/customers/{customer_id}/cancellation-flows"]["post"]
    assert {"200", "201", "401", "403", "404", "409", "422"} <= set(start_op["responses"])
    for action in ("accept", "decline"):
        op = paths[f"/v1/cancellation-flows/{{flow_id}}/{action}"]["post"]
        assert {"200", "401", "403", "404", "409", "422"} <= set(op["responses"])
    report_op = paths["/v1/cancellation-flows/report"]["get"]
    assert {"200", "401", "403", "422"} <= set(report_op["responses"])
