"""What flows learn: holdout assignment, ranking by measured save rate, and the flow report
(counts, save rates and lift over the holdout) checked against hand-computed numbers."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from app.offers.rules import in_holdout
from tests.api.flow_helpers import (
    accept_at,
    decline_at,
    set_up_catalog,
    shown_offer_ids,
    start_at,
    started,
    subscribers,
)
from tests.conftest import TenantInfo, bearer, make_key
from tests.factories import event, post_batch

SHARE_BP = 2000


async def put_settings(
    client: httpx.AsyncClient, tenant: TenantInfo, holdout_share_bp: int, keep_days: int = 30
) -> None:
    response = await client.put(
        "/v1/settings/offers",
        json={"holdout_share_bp": holdout_share_bp, "keep_days": keep_days},
        headers=tenant.headers,
    )
    assert response.status_code == 200, response.text


async def only_offers(
    client: httpx.AsyncClient, tenant: TenantInfo, *bodies: dict[str, Any]
) -> list[str]:
    """Replace the default offers with ``bodies`` (created in order); their ids."""
    for offer in (await client.get("/v1/offers", headers=tenant.headers)).json()["items"]:
        deleted = await client.delete(f"/v1/offers/{offer['id']}", headers=tenant.headers)
        assert deleted.status_code == 204
    ids = []
    for body in bodies:
        response = await client.post("/v1/offers", json=body, headers=tenant.headers)
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    return ids


def split_customers(
    tenant: TenantInfo, treatment: int, holdout: int
) -> tuple[list[str], list[str]]:
    """Customer ids the tenant's holdout assignment puts in each variant."""
    treated: list[str] = []
    held: list[str] = []
    for i in range(10_000):
        customer_id = f"cus_{i}"
        group = held if in_holdout(tenant.id, customer_id, SHARE_BP) else treated
        group.append(customer_id)
        if len(treated) >= treatment and len(held) >= holdout:
            return treated[:treatment], held[:holdout]
    raise AssertionError("not enough customers in one variant")


async def report(
    client: httpx.AsyncClient, headers: dict[str, str], start: datetime, end: datetime
) -> dict[str, Any]:
    response = await client.get(
        "/v1/cancellation-flows/report",
        params={"start": start.isoformat(), "end": end.isoformat()},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_holdout_is_assigned_per_customer_stably_and_near_the_share(
    client: httpx.AsyncClient, tenant: TenantInfo, conn: AsyncConnection
) -> None:
    await set_up_catalog(client, tenant)
    await put_settings(client, tenant, SHARE_BP)
    customers = [f"cus_{i}" for i in range(100)]
    await subscribers(client, tenant, *customers)
    variants = {}
    for customer_id in customers:
        flow = await started(client, tenant, customer_id, reason="too_expensive")
        variants[customer_id] = flow["variant"]
        if flow["variant"] == "holdout":
            assert flow["offers"] == []
            shown, withheld, _ = await shown_offer_ids(conn, tenant, uuid.UUID(flow["flow_id"]))
            assert shown == [] and {o["kind"] for o in withheld} >= {"downgrade"}
        else:
            assert flow["offers"], flow
    assert all(
        (variant == "holdout") == in_holdout(tenant.id, customer_id, SHARE_BP)
        for customer_id, variant in variants.items()
    )
    held = sum(variant == "holdout" for variant in variants.values())
    assert 8 <= held <= 32  # 20% of 100, within three standard deviations

    # The same customers in new flows (the first ones lapsed) land in the same variant.
    later = datetime.now(UTC) + timedelta(hours=25)
    for customer_id in customers[:10]:
        flow_id = await start_at(conn, tenant, customer_id, later)
        _, _, variant = await shown_offer_ids(conn, tenant, flow_id)
        assert variant == variants[customer_id]


async def test_a_holdout_flow_shows_nothing_to_accept(
    client: httpx.AsyncClient, tenant: TenantInfo
) -> None:
    await set_up_catalog(client, tenant)
    await put_settings(client, tenant, SHARE_BP)
    _, [held] = split_customers(tenant, 0, 1)
    await subscribers(client, tenant, held)
    flow = await started(client, tenant, held, reason="too_expensive")
    assert (flow["variant"], flow["offers"]) == ("holdout", [])
    catalog = (await client.get("/v1/offers", headers=tenant.headers)).json()["items"]
    response = await client.post(
        f"/v1/cancellation-flows/{flow['flow_id']}/accept",
        json={"offer_id": catalog[0]["id"]},
        headers=tenant.headers,
    )
    assert response.status_code == 422
    assert "holdout" in response.json()["detail"]


async def test_ranking_follows_measured_save_rates_once_there_are_20_flows(
    client: httpx.AsyncClient, tenant: TenantInfo, conn: AsyncConnection
) -> None:
    custom = {"kind": "custom", "priority": 100, "rules": []}
    older, newer = await only_offers(
        client, tenant, {**custom, "title": "Older"}, {**custom, "title": "Newer"}
    )
    customers = [f"cus_{i}" for i in range(24)]
    await subscribers(client, tenant, *customers, "probe_1", "probe_2")

    # Equal priority, no data: the older offer first.
    first = await started(client, tenant, "probe_1", reason="other")
    assert [o["offer_id"] for o in first["offers"]] == [older, newer]

    # 24 flows two months ago: "Newer" accepted (and kept) in half of them, the rest lapsed.
    began = datetime.now(UTC) - timedelta(days=60)
    for i, customer_id in enumerate(customers):
        flow_id = await start_at(conn, tenant, customer_id, began, reason="other")
        if i % 2 == 0:
            await accept_at(conn, tenant, flow_id, uuid.UUID(newer), began + timedelta(hours=1))

    ranked = await started(client, tenant, "probe_2", reason="other")
    assert [o["offer_id"] for o in ranked["offers"]] == [newer, older]
    # Save rates are per reason: another reason has no data and keeps the default order.
    await subscribers(client, tenant, "probe_3")
    other_reason = await started(client, tenant, "probe_3", reason="unused")
    assert [o["offer_id"] for o in other_reason["offers"]] == [older, newer]


async def test_fewer_than_20_flows_do_not_reorder(
    client: httpx.AsyncClient, tenant: TenantInfo, conn: AsyncConnection
) -> None:
    custom = {"kind": "custom", "priority": 100, "rules": []}
    older, newer = await only_offers(
        client, tenant, {**custom, "title": "Older"}, {**custom, "title": "Newer"}
    )
    customers = [f"cus_{i}" for i in range(19)]
    await subscribers(client, tenant, *customers, "probe")
    began = datetime.now(UTC) - timedelta(days=60)
    for customer_id in customers:
        flow_id = await start_at(conn, tenant, customer_id, began, reason="other")
        await accept_at(conn, tenant, flow_id, uuid.UUID(newer), began + timedelta(hours=1))
    ranked = await started(client, tenant, "probe", reason="other")
    assert [o["offer_id"] for o in ranked["offers"]] == [older, newer]


def wilson(successes: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


async def test_report_numbers_match_a_hand_computed_scenario(
    client: httpx.AsyncClient, tenant: TenantInfo, conn: AsyncConnection
) -> None:
    await put_settings(client, tenant, SHARE_BP, keep_days=30)
    offer = {"priority": 100, "rules": []}
    custom, pause = await only_offers(
        client,
        tenant,
        {**offer, "kind": "custom", "title": "Talk to us"},
        {**offer, "kind": "pause", "title": "Pause", "params": {"months": 1}},
    )
    treated, held = split_customers(tenant, 6, 4)
    await subscribers(client, tenant, *treated, *held)
    now = datetime.now(UTC)
    t0 = now - timedelta(days=60)
    decided = t0 + timedelta(hours=1)
    flows = {c: await start_at(conn, tenant, c, t0, reason="other") for c in treated[:5] + held}
    t1, t2, t3, t4, _t5 = treated[:5]
    h1, _h2, h3, h4 = held
    await accept_at(conn, tenant, flows[t1], uuid.UUID(custom), decided)  # kept
    await accept_at(conn, tenant, flows[t2], uuid.UUID(pause), decided)  # kept
    await accept_at(conn, tenant, flows[t3], uuid.UUID(custom), decided)  # churns on day 10
    await decline_at(conn, tenant, flows[t4], decided)
    # t5: never decided, abandoned at t0 + 24 h, stays: saved (not kept).
    await decline_at(conn, tenant, flows[h1], decided)
    # h2: abandoned, stays: saved. h3: abandoned, churns on day 15: not saved.
    await decline_at(conn, tenant, flows[h4], decided)
    t6 = treated[5]  # accepted five days ago: the keep window is still running
    recent = await start_at(conn, tenant, t6, now - timedelta(days=5), reason="other")
    await accept_at(conn, tenant, recent, uuid.UUID(custom), now - timedelta(days=5, hours=-1))
    await post_batch(
        client,
        tenant.headers,
        [
            event("cancellation", t3, (t0 + timedelta(days=10)).isoformat(), reason="other"),
            event("cancellation", h3, (t0 + timedelta(days=15)).isoformat(), reason="other"),
        ],
    )

    reader = bearer(await make_key(client, tenant, "read"))
    body = await report(client, reader, now - timedelta(days=90), now + timedelta(minutes=1))
    assert body["keep_days"] == 30 and body["holdout_share_bp"] == SHARE_BP
    totals = body["totals"]
    counts = ("flows", "accepted", "kept", "declined", "abandoned", "pending", "resolved", "saved")
    assert [totals["treatment"][k] for k in counts] == [6, 4, 2, 1, 1, 1, 5, 3]
    assert [totals["holdout"][k] for k in counts] == [4, 0, 0, 2, 2, 0, 4, 1]
    assert [totals[k] for k in counts] == [10, 4, 2, 3, 3, 1, 9, 4]
    assert totals["save_rate"] == pytest.approx(4 / 9)
    assert totals["treatment"]["save_rate"] == pytest.approx(3 / 5)
    assert totals["holdout"]["save_rate"] == pytest.approx(1 / 4)

    # Newcombe's interval for 3/5 - 1/4, from the two Wilson intervals.
    l1, u1 = wilson(3, 5)
    l2, u2 = wilson(1, 4)
    low = 0.35 - math.sqrt((0.6 - l1) ** 2 + (u2 - 0.25) ** 2)
    high = 0.35 + math.sqrt((u1 - 0.6) ** 2 + (0.25 - l2) ** 2)
    assert (low, high) == pytest.approx((-0.2316, 0.6986), abs=1e-4)
    expected_lift = {
        "treatment_rate": pytest.approx(0.6),
        "holdout_rate": pytest.approx(0.25),
        "difference": pytest.approx(0.35),
        "ci_low": pytest.approx(low),
        "ci_high": pytest.approx(high),
        "significant": False,
    }
    assert totals["lift"] == expected_lift

    rows = {(r["kind"], r["reason"], r["variant"]): r for r in body["rows"]}
    assert set(rows) == {
        (kind, "other", variant)
        for kind in ("custom", "pause")
        for variant in ("treatment", "holdout")
    }
    assert [rows["custom", "other", "treatment"][k] for k in counts] == [6, 3, 1, 1, 1, 1, 5, 3]
    assert [rows["pause", "other", "treatment"][k] for k in counts] == [6, 1, 1, 1, 1, 1, 5, 3]
    for kind in ("custom", "pause"):
        holdout = rows[kind, "other", "holdout"]
        assert [holdout[k] for k in counts] == [4, 0, 0, 2, 2, 0, 4, 1]
        assert holdout["lift"] is None
        treatment = rows[kind, "other", "treatment"]
        assert treatment["save_rate"] == pytest.approx(0.6)
        assert treatment["lift"] == expected_lift
    assert rows["custom", "other", "treatment"]["keep_rate"] == pytest.approx(1 / 5)
    assert rows["pause", "other", "treatment"]["keep_rate"] == pytest.approx(1 / 5)

    # A period that ends before the recent flow leaves nothing pending.
    earlier = await report(client, reader, now - timedelta(days=90), now - timedelta(days=10))
    assert [earlier["totals"]["treatment"][k] for k in counts] == [5, 3, 2, 1, 1, 0, 5, 3]


async def test_flows_younger_than_their_keep_window_are_pending_whatever_happened(
    client: httpx.AsyncClient, tenant: TenantInfo, conn: AsyncConnection
) -> None:
    [custom] = await only_offers(
        client, tenant, {"kind": "custom", "title": "Talk", "priority": 1, "rules": []}
    )
    await put_settings(client, tenant, 0, keep_days=10)
    await subscribers(client, tenant, "cus_a", "cus_b", "cus_c", "cus_d")
    now = datetime.now(UTC)
    flows = {
        name: await start_at(conn, tenant, name, now - timedelta(days=3))
        for name in ("cus_a", "cus_b", "cus_c")
    }
    await accept_at(conn, tenant, flows["cus_a"], uuid.UUID(custom), now - timedelta(days=3))
    await accept_at(conn, tenant, flows["cus_b"], uuid.UUID(custom), now - timedelta(days=3))
    await decline_at(conn, tenant, flows["cus_c"], now - timedelta(days=3))
    await post_batch(
        client,
        tenant.headers,
        [event("cancellation", "cus_b", (now - timedelta(days=1)).isoformat(), reason="other")],
    )
    # An old one whose window is over: accepted twelve days ago and kept.
    old = await start_at(conn, tenant, "cus_d", now - timedelta(days=12))
    await accept_at(conn, tenant, old, uuid.UUID(custom), now - timedelta(days=12, hours=-1))
    totals = (await report(client, tenant.headers, now - timedelta(days=30), now))["totals"]
    counts = ("flows", "accepted", "kept", "declined", "pending", "resolved", "saved")
    assert [totals[k] for k in counts] == [4, 3, 1, 1, 3, 1, 1]
    assert totals["save_rate"] == 1.0
    assert totals["lift"] is None  # no holdout


@pytest.mark.parametrize(
    "params",
    [
        {"start": "2026-02-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"},
        {"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"},
        {"start": "2000-01-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"},
        {"start": "2026-01-01T00:00:00Z"},
        {"start": "2026-01-01", "end": "2026-02-01T00:00:00"},
    ],
)
async def test_report_periods_are_validated(
    client: httpx.AsyncClient, tenant: TenantInfo, params: dict[str, str]
) -> None:
    response = await client.get(
        "/v1/cancellation-flows/report", params=params, headers=tenant.headers
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
