"""Health scores through the API: explanation, as_of, history, lookup, listing, webhooks and
the backtest on synthetic data."""

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db import session_factory
from app.demo.generator import generate
from app.health.scoring import rescore
from tests.conftest import TenantInfo, bearer, make_key
from tests.factories import drain_scores, event, post_batch, subscribe

NOW = datetime.now(UTC)


def ago(days: float) -> str:
    return (NOW - timedelta(days=days)).isoformat()


def engaged(customer: str, days: int = 60) -> list[dict[str, Any]]:
    events = [subscribe(customer, ago(days))]
    events += [event("usage", customer, ago(d), quantity=5) for d in range(1, days)]
    return events


async def health(
    client: httpx.AsyncClient, tenant: TenantInfo, customer: str, **params: Any
) -> dict[str, Any]:
    response = await client.get(
        f"/v1/customers/{customer}/health", params=params, headers=tenant.headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_score_is_explained_and_contributions_add_up(
    client: httpx.AsyncClient, tenant: TenantInfo
) -> None:
    await post_batch(client, tenant.headers, engaged("good"))
    body = await health(client, tenant, "good")
    assert body["tier"] == "healthy"
    assert body["status"] == "active"
    assert body["model_version"] == 0
    assert round(sum(f["contribution"] for f in body["factors"]), 2) == body["score"]
    assert abs(sum(f["weight"] for f in body["factors"]) - 1) < 1e-6
    names = {f["name"] for f in body["factors"]} | {m["name"] for m in body["missing_factors"]}
    assert {"usage_recency", "usage_trend", "subscription_state", "payment_health"} <= names
    assert body["summary"]


async def test_declining_usage_and_pending_cancellation_pull_the_score_down(
    client: httpx.AsyncClient, tenant: TenantInfo
) -> None:
    fading = [subscribe("fading", ago(90))]
    fading += [event("usage", "fading", ago(d), quantity=8) for d in range(30, 89)]
    fading += [event("usage", "fading", ago(d), quantity=1) for d in (3, 12, 20)]
    await post_batch(client, tenant.headers, engaged("good", 90) + fading)
    good, bad = await health(client, tenant, "good"), await health(client, tenant, "fading")
    assert bad["score"] < good["score"] - 20
    assert "usage" in bad["summary"]
    await post_batch(
        client,
        tenant.headers,
        [
            event(
                "cancellation",
                "good",
                ago(0.1),
                reason="unused",
                effective_at=(NOW + timedelta(days=10)).isoformat(),
            )
        ],
    )
    pending = await health(client, tenant, "good")
    assert pending["score"] < good["score"] - 20
    assert pending["tier"] != "healthy"
    assert "cancel" in pending["summary"]


async def test_as_of_scores_from_the_events_known_then(
    client: httpx.AsyncClient, tenant: TenantInfo
) -> None:
    await post_batch(
        client,
        tenant.headers,
        [*engaged("c", 60), event("cancellation", "c", ago(10), reason="unused")],
    )
    before = await health(client, tenant, "c", as_of=ago(20))
    now = await health(client, tenant, "c")
    assert (before["status"], now["status"]) == ("active", "cancelled")
    assert before["score"] > now["score"]
    assert before["trend"] is None and now["trend"] is not None
    response = await client.get(
        "/v1/customers/c/health", params={"as_of": ago(100)}, headers=tenant.headers
    )
    assert response.status_code == 404  # not a customer yet at that instant


@pytest.mark.parametrize(
    "as_of", [(NOW + timedelta(days=2)).isoformat(), "2026-01-01T00:00:00", "soon"]
)
async def test_bad_as_of_is_422(client: httpx.AsyncClient, tenant: TenantInfo, as_of: str) -> None:
    await post_batch(client, tenant.headers, engaged("c", 5))
    response = await client.get(
        "/v1/customers/c/health", params={"as_of": as_of}, headers=tenant.headers
    )
    assert response.status_code == 422


async def test_unknown_customer_and_other_tenants_are_404(
    client: httpx.AsyncClient, tenant: TenantInfo, other_tenant: TenantInfo
) -> None:
    await post_batch(client, tenant.headers, engaged("mine", 5))
    for path in ("/v1/customers/mine/health", "/v1/customers/mine/health/history"):
        assert (await client.get(path, headers=other_tenant.headers)).status_code == 404
        assert (
            await client.get(path.replace("mine", "nobody"), headers=tenant.headers)
        ).status_code == 404
    lookup = await client.post(
        "/v1/health/lookup", json={"customer_ids": ["mine"]}, headers=other_tenant.headers
    )
    assert lookup.json() == {"results": [], "not_found": ["mine"]}
    listing = await client.get("/v1/customers", headers=other_tenant.headers)
    assert listing.json()["items"] == []


async def test_settings_version_is_recorded_on_scores(
    client: httpx.AsyncClient, tenant: TenantInfo
) -> None:
    failed = event("payment_failed", "c", ago(2), amount=4900, currency="USD")
    await post_batch(client, tenant.headers, [*engaged("c", 40), failed])
    before = await health(client, tenant, "c")
    assert before["model_version"] == 0
    assert before["tier"] == "healthy" and before["score"] < 99
    response = await client.put(
        "/v1/settings/health",
        json={"tiers": {"healthy_min": 99.5, "at_risk_min": 99}},
        headers=tenant.headers,
    )
    assert response.status_code == 200
    after = await health(client, tenant, "c")
    assert after["model_version"] == 1
    assert after["tier"] == "critical"


async def test_snapshots_one_per_day_and_history(
    client: httpx.AsyncClient, tenant: TenantInfo, conn: AsyncConnection
) -> None:
    await post_batch(client, tenant.headers, engaged("c", 10))
    async with session_factory(conn)() as session, session.begin():
        await rescore(session, tenant.id, None, now=NOW - timedelta(days=8))
        await rescore(session, tenant.id, None)
        await rescore(session, tenant.id, None)
    history = (await client.get("/v1/customers/c/health/history", headers=tenant.headers)).json()
    days = [s["day"] for s in history["snapshots"]]
    assert days == sorted(set(days))
    assert len(days) == 2
    assert days[-1] == NOW.date().isoformat()
    ranged = (
        await client.get(
            "/v1/customers/c/health/history",
            params={"start": NOW.date().isoformat()},
            headers=tenant.headers,
        )
    ).json()
    assert len(ranged["snapshots"]) == 1
    body = await health(client, tenant, "c")
    assert body["trend"]["change_7d"] is not None


async def test_lookup_many(client: httpx.AsyncClient, tenant: TenantInfo) -> None:
    await post_batch(client, tenant.headers, engaged("a", 10) + engaged("b", 10))
    response = await client.post(
        "/v1/health/lookup", json={"customer_ids": ["a", "zz", "b", "a"]}, headers=tenant.headers
    )
    body = response.json()
    assert [r["customer_id"] for r in body["results"]] == ["a", "b"]
    assert body["not_found"] == ["zz"]
    too_many = await client.post(
        "/v1/health/lookup",
        json={"customer_ids": [f"c{i}" for i in range(1001)]},
        headers=tenant.headers,
    )
    assert too_many.status_code == 422


async def test_attention_list_orders_filters_and_pages(
    client: httpx.AsyncClient, tenant: TenantInfo, app: Any
) -> None:
    events = engaged("healthy1", 60) + engaged("healthy2", 60)
    events += [subscribe("idle", ago(60))]
    events += [
        subscribe("leaving", ago(60)),
        event("cancellation", "leaving", ago(1), reason="unused"),
    ]
    events += [subscribe("paused", ago(60)), event("pause", "paused", ago(2))]
    await post_batch(client, tenant.headers, events)
    await drain_scores(app)
    listing = (
        await client.get("/v1/customers", params={"order": "score"}, headers=tenant.headers)
    ).json()
    scores = [c["score"] for c in listing["items"]]
    assert scores == sorted(scores)
    assert listing["items"][0]["customer_id"] == "leaving"
    statuses = {c["customer_id"]: c["status"] for c in listing["items"]}
    assert statuses == {
        "healthy1": "active",
        "healthy2": "active",
        "idle": "active",
        "leaving": "cancelled",
        "paused": "paused",
    }
    for c in listing["items"]:
        assert (
            c["status"]
            == (
                await client.get(f"/v1/customers/{c['customer_id']}", headers=tenant.headers)
            ).json()["status"]
        )
    healthy = (
        await client.get("/v1/customers", params={"tier": "healthy"}, headers=tenant.headers)
    ).json()
    assert {c["customer_id"] for c in healthy["items"]} == {"healthy1", "healthy2"}
    paused = (
        await client.get("/v1/customers", params={"status": "paused"}, headers=tenant.headers)
    ).json()
    assert [c["customer_id"] for c in paused["items"]] == ["paused"]
    for order in ("score", "-score", "customer_id"):
        seen, cursor = [], None
        while True:
            params: dict[str, Any] = {"order": order, "limit": 2}
            if cursor:
                params["cursor"] = cursor
            page = (await client.get("/v1/customers", params=params, headers=tenant.headers)).json()
            seen += [c["customer_id"] for c in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert sorted(seen) == sorted(statuses), order
        assert len(seen) == len(set(seen))
    bad = await client.get("/v1/customers", params={"cursor": "nonsense"}, headers=tenant.headers)
    assert bad.status_code == 422


async def test_read_scope_and_writers(client: httpx.AsyncClient, tenant: TenantInfo) -> None:
    await post_batch(client, tenant.headers, engaged("c", 5))
    writer = await make_key(client, tenant, "events:write")
    reader = await make_key(client, tenant, "read")
    assert (await client.get("/v1/customers/c/health", headers=bearer(writer))).status_code == 403
    assert (await client.get("/v1/customers/c/health", headers=bearer(reader))).status_code == 200


async def deliveries(conn: AsyncConnection, tenant: TenantInfo) -> list[dict[str, Any]]:
    rows = await conn.execute(
        text(
            "SELECT event_type, payload FROM webhook_deliveries WHERE tenant_id = :t"
            " ORDER BY created_at"
        ),
        {"t": tenant.id},
    )
    return [{"type": r.event_type, **r.payload["data"]} for r in rows]


async def test_tier_changes_churn_and_reactivation_are_announced(
    client: httpx.AsyncClient, tenant: TenantInfo, conn: AsyncConnection, app: Any
) -> None:
    hook = await client.post(
        "/v1/webhooks",
        json={"url": "http://127.0.0.1:9/hook", "event_types": ["*"]},
        headers=tenant.headers,
    )
    assert hook.status_code == 201, hook.text
    await post_batch(client, tenant.headers, engaged("c", 60))
    await drain_scores(app)
    assert await deliveries(conn, tenant) == []
    await post_batch(
        client, tenant.headers, [event("cancellation", "c", ago(0.5), reason="too_expensive")]
    )
    assert await deliveries(conn, tenant) == []  # announced by the scorer, not the request
    await drain_scores(app)
    sent = await deliveries(conn, tenant)
    churned = [d for d in sent if d["type"] == "customer.churned"]
    assert len(churned) == 1
    assert churned[0]["customer_id"] == "c" and churned[0]["reason"] == "too_expensive"
    assert churned[0]["mrr_lost"] == 4900
    tier = [d for d in sent if d["type"] == "health.tier_changed"]
    assert len(tier) == 1 and tier[0]["old_tier"] == "healthy" and tier[0]["top_factors"]
    await post_batch(client, tenant.headers, [subscribe("c", ago(0.1), mrr=1900)])
    await drain_scores(app)
    await drain_scores(app)  # nothing left to drain: announced once
    sent = await deliveries(conn, tenant)
    assert [d["type"] for d in sent].count("customer.reactivated") == 1


async def test_a_scheduled_cancellation_is_announced_when_it_takes_effect(
    client: httpx.AsyncClient, tenant: TenantInfo, conn: AsyncConnection
) -> None:
    await client.post(
        "/v1/webhooks",
        json={"url": "http://127.0.0.1:9/hook", "event_types": ["customer.churned"]},
        headers=tenant.headers,
    )
    effective = NOW + timedelta(hours=6)
    await post_batch(
        client,
        tenant.headers,
        [
            *engaged("c", 30),
            event("cancellation", "c", ago(1), reason="unused", effective_at=effective.isoformat()),
        ],
    )
    assert await deliveries(conn, tenant) == []
    async with session_factory(conn)() as session, session.begin():
        early = await rescore(session, tenant.id, None, now=NOW + timedelta(hours=5))
        late = await rescore(session, tenant.id, None, now=NOW + timedelta(hours=7))
        again = await rescore(session, tenant.id, None, now=NOW + timedelta(hours=8))
    assert (early.churned, late.churned, again.churned) == ([], ["c"], [])
    assert [d["type"] for d in await deliveries(conn, tenant)] == ["customer.churned"]


async def test_backtest_on_synthetic_history_predicts_churn(
    client: httpx.AsyncClient, tenant: TenantInfo
) -> None:
    # The history ends on a Monday at midnight, so the same seed always yields the same week
    # pattern, whatever day the test runs.
    end = (NOW - timedelta(days=NOW.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    history = generate(400, months=8, seed=8, end=end)
    for i in range(0, len(history.events), 1000):
        body = await post_batch(client, tenant.headers, history.events[i : i + 1000])
        assert body["rejected"] == 0, body
    as_of = (end - timedelta(days=60)).isoformat()
    response = await client.get(
        "/v1/health/backtest", params={"as_of": as_of, "horizon_days": 45}, headers=tenant.headers
    )
    assert response.status_code == 200, response.text
    report = response.json()
    print("backtest:", report)
    assert report["customers"] > 200 and report["churned"] >= 15
    assert report["auc"] >= 0.75
    rates = {t["tier"]: t["churn_rate"] for t in report["tiers"]}
    assert rates["critical"] > rates["at_risk"] > rates["healthy"]


async def test_backtest_horizon_must_be_in_the_past(
    client: httpx.AsyncClient, tenant: TenantInfo
) -> None:
    response = await client.get(
        "/v1/health/backtest", params={"as_of": ago(10), "horizon_days": 30}, headers=tenant.headers
    )
    assert response.status_code == 422
