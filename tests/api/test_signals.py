"""Lifecycle signals: settings through the API, and the scan (called with a controlled clock)
announcing each signal exactly once through the webhook outbox."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.db import Database, session_factory
from app.metrics.value import add_months
from app.scheduler import periodic_round
from app.signals.jobs import scan_tenant
from app.signals.service import ScanReport, scan_signals
from tests.conftest import Committed, TenantInfo, bearer, make_key
from tests.factories import event, post_batch, purchase, subscribe

PROBLEM = "application/problem+json"
SIGNALS = ["customer.reorder_overdue", "customer.inactive", "customer.loyalty_milestone"]


def t(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def scan(conn: AsyncConnection, tenant: TenantInfo, now: str) -> ScanReport:
    async with session_factory(conn)() as session, session.begin():
        return await scan_signals(session, tenant.id, now=t(now))


async def subscribe_webhook(
    client: httpx.AsyncClient, tenant: TenantInfo, event_types: list[str] | None = None
) -> None:
    response = await client.post(
        "/v1/webhooks",
        json={"url": "https://hooks.example.com/signals", "event_types": event_types or SIGNALS},
        headers=tenant.headers,
    )
    assert response.status_code == 201, response.text


async def deliveries(conn: AsyncConnection, tenant: TenantInfo) -> list[dict[str, Any]]:
    rows = await conn.execute(
        text(
            "SELECT event_type, payload FROM webhook_deliveries WHERE tenant_id = :t"
            " ORDER BY created_at, payload #>> '{data,customer_id}'"
        ),
        {"t": tenant.id},
    )
    return [{"type": r.event_type, **r.payload} for r in rows]


async def set_tier(conn: AsyncConnection, tenant: TenantInfo, customer: str, tier: str) -> None:
    """Store a customer's health tier as the rescore would have."""
    await conn.execute(
        text(
            """
            INSERT INTO health_scores (tenant_id, customer_id, score, tier, status, summary,
                                       model_version, model_revision, computed_at)
            VALUES (:t, :c, :score, :tier, 'active', '', 0, 1, now())
            ON CONFLICT (tenant_id, customer_id) DO UPDATE
            SET tier = EXCLUDED.tier, score = EXCLUDED.score
            """
        ),
        {"t": tenant.id, "c": customer, "tier": tier, "score": 85.0 if tier == "healthy" else 50.0},
    )


async def put_settings(
    client: httpx.AsyncClient, tenant: TenantInfo, body: dict[str, Any]
) -> dict[str, Any]:
    response = await client.put("/v1/settings/signals", json=body, headers=tenant.headers)
    assert response.status_code == 200, response.text
    stored: dict[str, Any] = response.json()
    return stored


# -- settings ----------------------------------------------------------------------------------


async def test_settings_default_until_set_then_replaced_whole(
    client: httpx.AsyncClient, tenant: TenantInfo, other_tenant: TenantInfo
) -> None:
    reader = bearer(await make_key(client, tenant, "read"))
    defaults = (await client.get("/v1/settings/signals", headers=reader)).json()
    assert defaults == {
        "reorder_overdue": {"enabled": True, "factor": 1.5},
        "inactive": {"enabled": True, "days": 14},
        "loyalty_milestone": {"enabled": True, "months": [3, 12, 24]},
        "catch_up_days": 7,
        "updated_at": None,
    }
    stored = await put_settings(
        client,
        tenant,
        {"inactive": {"days": 30}, "loyalty_milestone": {"months": [24, 6, 60]}},
    )
    assert stored["inactive"] == {"enabled": True, "days": 30}
    assert stored["loyalty_milestone"]["months"] == [6, 24, 60]  # stored ascending
    assert stored["reorder_overdue"] == {"enabled": True, "factor": 1.5}  # left out: default
    assert stored["updated_at"] is not None
    again = (await client.get("/v1/settings/signals", headers=reader)).json()
    assert again == stored
    # the other tenant still has the defaults
    theirs = (await client.get("/v1/settings/signals", headers=other_tenant.headers)).json()
    assert theirs == defaults


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"reorder_overdue": {"factor": 0.9}}, ["body", "reorder_overdue", "factor"]),
        ({"reorder_overdue": {"factor": 10.5}}, ["body", "reorder_overdue", "factor"]),
        ({"reorder_overdue": {"factor": "1.5x"}}, ["body", "reorder_overdue", "factor"]),
        ({"inactive": {"days": 0}}, ["body", "inactive", "days"]),
        ({"inactive": {"days": 366}}, ["body", "inactive", "days"]),
        ({"inactive": {"days": 2**70}}, ["body", "inactive", "days"]),
        ({"loyalty_milestone": {"months": []}}, ["body", "loyalty_milestone", "months"]),
        ({"loyalty_milestone": {"months": [0]}}, ["body", "loyalty_milestone", "months", 0]),
        ({"loyalty_milestone": {"months": [3, 121]}}, ["body", "loyalty_milestone", "months", 1]),
        ({"loyalty_milestone": {"months": [3, 12, 3]}}, ["body", "loyalty_milestone", "months"]),
        (
            {"loyalty_milestone": {"months": list(range(1, 26))}},
            ["body", "loyalty_milestone", "months"],
        ),
        ({"catch_up_days": 0}, ["body", "catch_up_days"]),
        ({"catch_up_days": 91}, ["body", "catch_up_days"]),
        ({"inactive": {"days": 14, "hours": 3}}, ["body", "inactive", "hours"]),
        ({"tenant_id": str(uuid.uuid4())}, ["body", "tenant_id"]),
    ],
)
async def test_invalid_settings_are_422_with_the_offending_field(
    client: httpx.AsyncClient, tenant: TenantInfo, body: dict[str, Any], loc: list[Any]
) -> None:
    response = await client.put("/v1/settings/signals", json=body, headers=tenant.headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    assert loc in [e["loc"] for e in response.json()["errors"]]
    assert (await client.get("/v1/settings/signals", headers=tenant.headers)).json()[
        "updated_at"
    ] is None


async def test_changing_settings_needs_an_admin_key(
    client: httpx.AsyncClient, tenant: TenantInfo
) -> None:
    reader = bearer(await make_key(client, tenant, "read"))
    writer = bearer(await make_key(client, tenant, "events:write"))
    for headers in (reader, writer):
        response = await client.put("/v1/settings/signals", json={}, headers=headers)
        assert response.status_code == 403
    assert (await client.get("/v1/settings/signals", headers=writer)).status_code == 403
    assert (await client.get("/v1/settings/signals")).status_code == 401


# -- customer.reorder_overdue ------------------------------------------------------------------

# The tea subscriber: a pack every 20 days, the last on 10 February at 10:00. With the default
# factor 1.5 it is overdue from 10 February + 30 days = 12 March 10:00.
TEA = [
    purchase("tea", "2025-01-01T10:00:00Z", amount=1500),
    purchase("tea", "2025-01-21T10:00:00Z", amount=1500),
    purchase("tea", "2025-01-21T11:00:00Z", amount=300),  # same day: not a purchase day
    purchase("tea", "2025-02-10T10:00:00Z", amount=1500),
]


async def test_reorder_overdue_once_per_expected_purchase(
    client: httpx.AsyncClient, conn: AsyncConnection, tenant: TenantInfo
) -> None:
    await subscribe_webhook(client, tenant)
    await post_batch(client, tenant.headers, TEA)

    assert (await scan(conn, tenant, "2025-03-12T09:59:00Z")).total == 0
    report = await scan(conn, tenant, "2025-03-12T10:01:00Z")
    assert (report.reorder_overdue, report.total) == (1, 1)
    (sent,) = await deliveries(conn, tenant)
    assert sent["type"] == "customer.reorder_overdue"
    assert sent["data"] == {
        "customer_id": "tea",
        "last_purchase_at": "2025-02-10T10:00:00Z",
        "purchase_days": 3,
        "median_interval_days": 20.0,
        "expected_purchase_at": "2025-03-02T10:00:00Z",
        "overdue_since": "2025-03-12T10:00:00Z",
        "factor": 1.5,
    }
    # rescanning finds nothing new
    assert (await scan(conn, tenant, "2025-03-12T11:00:00Z")).total == 0
    assert (await scan(conn, tenant, "2025-03-15T11:00:00Z")).total == 0
    assert len(await deliveries(conn, tenant)) == 1

    # the next purchase starts a new expectation: gaps 20, 20, 33 -> median 20
    await post_batch(client, tenant.headers, [purchase("tea", "2025-03-15T08:00:00Z")])
    assert (await scan(conn, tenant, "2025-04-14T07:59:00Z")).total == 0
    assert (await scan(conn, tenant, "2025-04-14T08:01:00Z")).reorder_overdue == 1
    assert (await scan(conn, tenant, "2025-04-20T08:01:00Z")).total == 0
    sent = await deliveries(conn, tenant)
    assert [d["data"]["last_purchase_at"] for d in sent] == [
        "2025-02-10T10:00:00Z",
        "2025-03-15T08:00:00Z",
    ]
    assert len({d["id"] for d in sent}) == 2
    emissions = (
        await conn.execute(
            text(
                "SELECT dedupe_key, event_id FROM signal_emissions WHERE tenant_id = :t"
                " ORDER BY dedupe_key"
            ),
            {"t": tenant.id},
        )
    ).all()
    assert [(e.dedupe_key, str(e.event_id)) for e in emissions] == [
        ("2025-02-10", sent[0]["id"]),
        ("2025-03-15", sent[1]["id"]),
    ]


async def test_reorder_overdue_skips_one_time_paused_and_long_lapsed_buyers(
    client: httpx.AsyncClient, conn: AsyncConnection, tenant: TenantInfo
) -> None:
    await subscribe_webhook(client, tenant)
    await post_batch(
        client,
        tenant.headers,
        [
            # one purchase day only (three orders on 10 February)
            *[purchase("once", f"2025-02-10T0{h}:00:00Z") for h in (1, 2, 3)],
            # a paused subscriber with a 20-day rhythm
            subscribe("paused", "2025-01-01T10:00:00Z", mrr=1500),
            purchase("paused", "2025-01-21T10:00:00Z"),
            purchase("paused", "2025-02-10T10:00:00Z"),
            event("pause", "paused", "2025-02-20T00:00:00Z"),
            # overdue since 31 January: older than the 7 catch-up days on 12 March
            purchase("lapsed", "2025-01-01T10:00:00Z"),
            purchase("lapsed", "2025-01-13T10:00:00Z"),
            *TEA,
        ],
    )
    report = await scan(conn, tenant, "2025-03-12T10:01:00Z")
    assert report.total == 1
    assert [d["data"]["customer_id"] for d in await deliveries(conn, tenant)] == ["tea"]

    # the factor is the tenant's: with 3, tea is not due until 10 February + 60 days
    await put_settings(client, tenant, {"reorder_overdue": {"factor": 3}})
    await post_batch(client, tenant.headers, [purchase("tea", "2025-03-20T10:00:00Z")])
    assert (await scan(conn, tenant, "2025-05-18T10:01:00Z")).total == 0  # + 58 days
    assert (await scan(conn, tenant, "2025-05-19T10:01:00Z")).reorder_overdue == 1  # + 60


# -- customer.inactive -------------------------------------------------------------------------


async def test_inactive_once_per_inactivity_spell(
    client: httpx.AsyncClient, conn: AsyncConnection, tenant: TenantInfo
) -> None:
    await subscribe_webhook(client, tenant)
    await post_batch(
        client,
        tenant.headers,
        [
            subscribe("app", "2025-02-01T00:00:00Z"),
            event("usage", "app", "2025-02-20T09:00:00Z"),
            event("usage", "app", "2025-03-01T10:00:00Z"),
            # never used the product: nothing to miss
            subscribe("idle", "2025-02-01T00:00:00Z"),
        ],
    )
    assert (await scan(conn, tenant, "2025-03-15T09:59:00Z")).total == 0
    assert (await scan(conn, tenant, "2025-03-15T10:01:00Z")).inactive == 1
    assert (await scan(conn, tenant, "2025-03-16T10:01:00Z")).total == 0
    (sent,) = await deliveries(conn, tenant)
    assert sent["type"] == "customer.inactive"
    assert sent["data"] == {
        "customer_id": "app",
        "last_usage_at": "2025-03-01T10:00:00Z",
        "inactive_days": 14,
        "inactive_since": "2025-03-15T10:00:00Z",
        "status": "active",
        "plan": "pro",
    }

    # back, then gone again: a new spell
    await post_batch(client, tenant.headers, [event("usage", "app", "2025-03-20T12:00:00Z")])
    assert (await scan(conn, tenant, "2025-04-03T11:59:00Z")).total == 0
    assert (await scan(conn, tenant, "2025-04-03T12:01:00Z")).inactive == 1
    assert len(await deliveries(conn, tenant)) == 2


async def test_inactive_skips_cancelled_customers_and_respects_settings(
    client: httpx.AsyncClient, conn: AsyncConnection, tenant: TenantInfo
) -> None:
    await subscribe_webhook(client, tenant)
    await post_batch(
        client,
        tenant.headers,
        [
            subscribe("gone", "2025-02-01T00:00:00Z"),
            event("usage", "gone", "2025-03-01T10:00:00Z"),
            event("cancellation", "gone", "2025-03-05T00:00:00Z"),
            subscribe("app", "2025-02-01T00:00:00Z"),
            event("usage", "app", "2025-03-01T10:00:00Z"),
            # a cancellation scheduled for later does not make it cancelled yet
            subscribe("leaving", "2025-02-01T00:00:00Z"),
            event("usage", "leaving", "2025-03-01T10:00:00Z"),
            event(
                "cancellation",
                "leaving",
                "2025-03-02T00:00:00Z",
                effective_at="2025-04-01T00:00:00Z",
            ),
        ],
    )
    await put_settings(client, tenant, {"inactive": {"enabled": False}})
    assert (await scan(conn, tenant, "2025-03-15T10:01:00Z")).total == 0
    await put_settings(client, tenant, {"inactive": {"days": 10}})
    # 11 March 10:00 is now 4 days in the past: within the catch-up days
    report = await scan(conn, tenant, "2025-03-15T10:01:00Z")
    assert report.inactive == 2
    sent = await deliveries(conn, tenant)
    assert [(d["data"]["customer_id"], d["data"]["inactive_since"]) for d in sent] == [
        ("app", "2025-03-11T10:00:00Z"),
        ("leaving", "2025-03-11T10:00:00Z"),
    ]


# -- customer.loyalty_milestone ----------------------------------------------------------------


async def test_loyalty_milestone_once_per_milestone_while_active_and_healthy(
    client: httpx.AsyncClient, conn: AsyncConnection, tenant: TenantInfo
) -> None:
    await subscribe_webhook(client, tenant)
    await post_batch(
        client,
        tenant.headers,
        [
            subscribe("loyal", "2025-01-10T00:00:00Z", mrr=4900),
            subscribe("shaky", "2025-01-10T00:00:00Z", mrr=4900),
            subscribe("resting", "2025-01-10T00:00:00Z", mrr=4900),
            event("pause", "resting", "2025-03-01T00:00:00Z"),
        ],
    )
    await set_tier(conn, tenant, "loyal", "healthy")
    await set_tier(conn, tenant, "shaky", "at_risk")
    await set_tier(conn, tenant, "resting", "healthy")

    assert (await scan(conn, tenant, "2025-04-09T23:59:00Z")).total == 0
    assert (await scan(conn, tenant, "2025-04-10T00:01:00Z")).loyalty_milestone == 1
    assert (await scan(conn, tenant, "2025-04-12T00:00:00Z")).total == 0
    (sent,) = await deliveries(conn, tenant)
    assert sent["type"] == "customer.loyalty_milestone"
    assert sent["data"] == {
        "customer_id": "loyal",
        "months": 3,
        "subscribed_at": "2025-01-10T00:00:00Z",
        "reached_at": "2025-04-10T00:00:00Z",
        "score": 85.0,
        "plan": "pro",
        "mrr": 4900,
        "currency": "USD",
    }

    # shaky recovers within the catch-up days: its milestone still goes out, once
    await set_tier(conn, tenant, "shaky", "healthy")
    assert (await scan(conn, tenant, "2025-04-16T23:00:00Z")).loyalty_milestone == 1
    # ... and a year in, both reach 12 months
    assert (await scan(conn, tenant, "2026-01-10T01:00:00Z")).loyalty_milestone == 2
    assert (await scan(conn, tenant, "2026-01-11T01:00:00Z")).total == 0
    months = [
        (d["data"]["customer_id"], d["data"]["months"]) for d in await deliveries(conn, tenant)
    ]
    assert months == [("loyal", 3), ("shaky", 3), ("loyal", 12), ("shaky", 12)]


async def test_milestones_long_past_are_not_announced(
    client: httpx.AsyncClient, conn: AsyncConnection, tenant: TenantInfo
) -> None:
    """Turning signals on for an old customer base announces no 3-, 12- or 24-month milestone
    that passed weeks ago; the next one still comes."""
    await subscribe_webhook(client, tenant)
    await post_batch(client, tenant.headers, [subscribe("old", "2022-01-31T12:00:00Z")])
    await set_tier(conn, tenant, "old", "healthy")
    await put_settings(client, tenant, {"loyalty_milestone": {"months": [3, 12, 24, 37]}})
    assert (await scan(conn, tenant, "2025-02-20T00:00:00Z")).total == 0
    # 31 January 2022 + 37 months = 28 February 2025 (the day clamped), 12:00
    assert (await scan(conn, tenant, "2025-02-28T11:59:00Z")).total == 0
    assert (await scan(conn, tenant, "2025-02-28T12:01:00Z")).loyalty_milestone == 1
    assert add_months(t("2022-01-31T12:00:00Z"), 37) == t("2025-02-28T12:00:00Z")


# -- exactly once, isolation, the periodic job -------------------------------------------------


async def _overdue_tea_buyers(committed: Committed, name: str) -> TenantInfo:
    """20 repeat buyers (1 January, 1 February) overdue from 1 February + 46.5 days, and two
    webhook endpoints (two delivery rows per event)."""
    tenant = await committed.tenant(name)
    async with committed.client() as client:
        await subscribe_webhook(client, tenant)
        await subscribe_webhook(client, tenant, ["*"])  # a second endpoint: two rows per event
        customers = [f"tea{i}" for i in range(20)]
        await post_batch(
            client,
            tenant.headers,
            [
                purchase(c, f"2025-0{m}-01T10:00:00Z", idempotency_key=f"{c}-{m}")
                for c in customers
                for m in (1, 2)
            ],
        )
    return tenant


OVERDUE_NOW = t("2025-02-01T10:00:00Z") + timedelta(days=47)


async def _assert_announced_once(committed: Committed, tenant: TenantInfo) -> None:
    async with committed.engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT event_id, count(*) AS n FROM webhook_deliveries"
                    " WHERE tenant_id = :t GROUP BY event_id"
                ),
                {"t": tenant.id},
            )
        ).all()
        emitted = await conn.scalar(
            text("SELECT count(*) FROM signal_emissions WHERE tenant_id = :t"), {"t": tenant.id}
        )
    assert emitted == 20
    assert len(rows) == 20 and all(r.n == 2 for r in rows)


async def test_a_scan_racing_an_uncommitted_one_waits_and_announces_nothing(
    committed: Committed,
) -> None:
    tenant = await _overdue_tea_buyers(committed, "racing")
    async with committed.database.sessionmaker() as first, first.begin():
        report = await scan_signals(first, tenant.id, now=OVERDUE_NOW)
        assert report.reorder_overdue == 20
        # the second scan sees no record yet (uncommitted), finds the same 20 candidates and
        # must wait on the first one's inserts
        second = asyncio.create_task(scan_tenant(committed.database, tenant.id, now=OVERDUE_NOW))
        await asyncio.sleep(0.3)
        assert not second.done()
    assert (await second).total == 0
    await _assert_announced_once(committed, tenant)


async def test_concurrent_scans_announce_each_signal_once(committed: Committed) -> None:
    tenant = await _overdue_tea_buyers(committed, "concurrent")
    reports = await asyncio.gather(
        *(scan_tenant(committed.database, tenant.id, now=OVERDUE_NOW) for _ in range(4))
    )
    assert sum(r.reorder_overdue for r in reports) == 20
    await _assert_announced_once(committed, tenant)


async def test_scanning_one_tenant_never_announces_another_tenants_customers(
    client: httpx.AsyncClient, conn: AsyncConnection, tenant: TenantInfo, other_tenant: TenantInfo
) -> None:
    await subscribe_webhook(client, tenant)
    await subscribe_webhook(client, other_tenant)
    await post_batch(client, tenant.headers, TEA)
    assert (await scan(conn, other_tenant, "2025-03-12T10:01:00Z")).total == 0
    assert await deliveries(conn, other_tenant) == []
    assert (await scan(conn, tenant, "2025-03-12T10:01:00Z")).total == 1
    assert await deliveries(conn, other_tenant) == []


async def test_the_rescore_job_scans_signals_with_fresh_scores(
    client: httpx.AsyncClient, conn: AsyncConnection, engine: AsyncEngine, tenant: TenantInfo
) -> None:
    """End to end with the real score: a customer who uses the product daily is healthy, and
    the rescore round that notices its third month also announces it."""
    now = datetime.now(UTC).replace(microsecond=0)
    since = add_months(now - timedelta(days=2), -3)
    events = [subscribe("engaged", since.isoformat())]
    events += [
        event("usage", "engaged", (now - timedelta(days=d)).isoformat(), quantity=5)
        for d in range(1, 60)
    ]
    await post_batch(client, tenant.headers, events)
    await subscribe_webhook(client, tenant)
    report = await periodic_round(Database(engine, session_factory(conn)), now=now)
    assert report.signals >= 1
    sent = [d for d in await deliveries(conn, tenant) if d["type"] in SIGNALS]
    assert [(d["type"], d["data"]["customer_id"], d["data"]["months"]) for d in sent] == [
        ("customer.loyalty_milestone", "engaged", 3)
    ]
    tier = await conn.scalar(
        text("SELECT tier FROM health_scores WHERE tenant_id = :t AND customer_id = 'engaged'"),
        {"t": tenant.id},
    )
    assert tier == "healthy"
