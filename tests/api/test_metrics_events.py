"""Churn metrics fed through POST /v1/events: the ingest fold and the metric SQL agree on the
definitions (the SQL alone is tested on hand-written histories in test_metrics.py)."""

from typing import Any

import httpx

from tests.conftest import TenantInfo
from tests.factories import drain_scores, event, post_batch, subscribe

FEB = {"start": "2026-02-01T00:00:00Z", "end": "2026-03-01T00:00:00Z", "granularity": "month"}


async def churn(
    client: httpx.AsyncClient, tenant: TenantInfo, **params: Any
) -> list[dict[str, Any]]:
    response = await client.get("/v1/metrics/churn", params=params, headers=tenant.headers)
    assert response.status_code == 200, response.text
    periods: list[dict[str, Any]] = response.json()["periods"]
    return periods


async def test_worked_example_through_events(client: httpx.AsyncClient, tenant: TenantInfo) -> None:
    events = [subscribe(f"c{i}", "2026-01-15T10:00:00Z", mrr=1000) for i in range(120)]
    # 30 cancel in February: 20 at once, 10 requested in January but effective in February
    events += [
        event("cancellation", f"c{i}", "2026-02-10T00:00:00Z", reason="too_expensive")
        for i in range(20)
    ]
    events += [
        event(
            "cancellation",
            f"c{i}",
            "2026-01-25T00:00:00Z",
            reason="unused",
            effective_at="2026-02-20T00:00:00Z",
        )
        for i in range(20, 30)
    ]
    # one requested in February, effective in March: not February's churn
    events += [
        event("cancellation", "c30", "2026-02-25T00:00:00Z", effective_at="2026-03-05T00:00:00Z")
    ]
    # a newcomer who starts and cancels inside February is not in the denominator
    events += [
        subscribe("late", "2026-02-03T00:00:00Z", mrr=500),
        event("cancellation", "late", "2026-02-09T00:00:00Z"),
    ]
    # one downgrade and one pause among the kept customers
    events += [
        event("plan_change", "c40", "2026-02-12T00:00:00Z", plan="basic", mrr=400),
        event("pause", "c41", "2026-02-14T00:00:00Z"),
    ]
    for i in range(0, len(events), 100):
        assert (await post_batch(client, tenant.headers, events[i : i + 100]))["rejected"] == 0

    (feb,) = await churn(client, tenant, **FEB)
    assert (feb["customers_at_start"], feb["churned"], feb["churn_rate"]) == (120, 30, 25.0)
    assert (feb["new"], feb["paused"]) == (1, 1)
    assert feb["mrr_at_start"] == 120_000
    assert feb["mrr_churned"] == 30_000
    assert feb["mrr_contraction"] == 600 + 1000  # the downgrade, and the pause counted at 0
    assert feb["revenue_churn_rate"] == (30_000 + 1_600) * 100 / 120_000
    assert feb["net_revenue_retention"] == (120_000 - 30_000 - 1_600) * 100 / 120_000

    jan, feb2, mar = await churn(
        client,
        tenant,
        start="2026-01-01T00:00:00Z",
        end="2026-04-01T00:00:00Z",
        granularity="month",
    )
    assert (jan["churned"], feb2["churned"], mar["churned"]) == (0, 30, 1)

    cancellations = (
        await client.get(
            "/v1/metrics/cancellations",
            params={"start": "2026-02-01T00:00:00Z", "end": "2026-03-01T00:00:00Z"},
            headers=tenant.headers,
        )
    ).json()
    reasons = {r["reason"]: r["cancellations"] for r in cancellations["by_reason"]}
    assert reasons["too_expensive"] == 20 and reasons["unused"] == 10


async def test_cancel_and_return_inside_a_period_is_not_churn(
    client: httpx.AsyncClient, tenant: TenantInfo
) -> None:
    await post_batch(
        client,
        tenant.headers,
        [
            subscribe("a", "2026-01-05T00:00:00Z"),
            event("cancellation", "a", "2026-02-03T00:00:00Z"),
            subscribe("a", "2026-02-20T00:00:00Z", mrr=5900),
        ],
    )
    (feb,) = await churn(client, tenant, **FEB)
    assert (feb["customers_at_start"], feb["churned"], feb["reactivated"]) == (1, 0, 1)
    assert feb["mrr_expansion"] == 1000


async def test_summary_counts_health_tiers_of_subscribers(
    client: httpx.AsyncClient, tenant: TenantInfo, app: Any
) -> None:
    await post_batch(
        client,
        tenant.headers,
        [
            subscribe("a", "2026-01-05T00:00:00Z"),
            subscribe("b", "2026-01-05T00:00:00Z"),
            subscribe("gone", "2026-01-05T00:00:00Z"),
            event("cancellation", "gone", "2026-01-09T00:00:00Z"),
            event("usage", "lead"),
        ],
    )
    await drain_scores(app)
    summary = (await client.get("/v1/metrics/summary", headers=tenant.headers)).json()
    assert sum(summary["health"].values()) == 2
    assert summary["customers"] == {"lead": 1, "active": 2, "paused": 0, "cancelled": 1}


async def test_cancellations_report_includes_cancellation_flows(
    client: httpx.AsyncClient, tenant: TenantInfo
) -> None:
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC)
    await post_batch(
        client,
        tenant.headers,
        [subscribe(c, (now - timedelta(days=90)).isoformat()) for c in ("stays", "leaves")],
    )
    outcomes = {}
    for customer, decision in (("stays", "accept"), ("leaves", "decline")):
        flow = (
            await client.post(
                f"/v1/customers/{customer}/cancellation-flows",
                json={"reason": "unused"},
                headers=tenant.headers,
            )
        ).json()
        body = {"offer_id": flow["offers"][0]["offer_id"]} if decision == "accept" else {}
        response = await client.post(
            f"/v1/cancellation-flows/{flow['flow_id']}/{decision}",
            json=body,
            headers=tenant.headers,
        )
        assert response.status_code == 200, response.text
        outcomes[customer] = flow["offers"][0]["kind"]
    window = {
        "start": (now - timedelta(days=1)).isoformat(),
        "end": (now + timedelta(days=1)).isoformat(),
    }
    today = (
        await client.get("/v1/metrics/cancellations", params=window, headers=tenant.headers)
    ).json()
    assert (today["flows_started"], today["pending"], today["save_rate"]) == (2, 2, None)
    later = (
        await client.get(
            "/v1/metrics/cancellations",
            params={**window, "as_of": (now + timedelta(days=40)).isoformat()},
            headers=tenant.headers,
        )
    ).json()
    assert (later["flows_started"], later["saved"], later["pending"], later["save_rate"]) == (
        2,
        1,
        0,
        50.0,
    )
    shown = {row["offer_kind"] for row in later["by_offer_kind"]}
    assert outcomes["stays"] in shown
    assert all(row["variant"] == "treatment" for row in later["by_offer_kind"])
