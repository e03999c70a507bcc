"""GET /v1/health/tiers: subscribers per tier per snapshot day, who counts as a subscriber on a
day (status at the end of it, midnight boundaries as in the churn metrics), the range rules,
scopes and tenant isolation."""

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db import session_factory
from app.health.repository import save_snapshots
from tests.conftest import TenantInfo, bearer, make_key
from tests.factories import drain_scores, event, post_batch, subscribe

NOW = datetime.now(UTC)
TODAY = NOW.date()


def midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, UTC)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def snapshot(
    conn: AsyncConnection, tenant: TenantInfo, day: date, tiers: dict[str, str | None]
) -> None:
    """Store one day's snapshots with the given tiers (scores made up to match)."""
    score = {"healthy": 85.0, "at_risk": 55.0, "critical": 20.0, None: None}
    rows = [(cid, score[tier], tier) for cid, tier in tiers.items()]
    async with session_factory(conn)() as session, session.begin():
        await save_snapshots(
            session,
            tenant.id,
            day,
            rows,
            model_version=0,
            computed_at=midnight(day) + timedelta(hours=12),
        )


async def trend(
    client: httpx.AsyncClient, headers: dict[str, str], **params: Any
) -> dict[str, Any]:
    response = await client.get("/v1/health/tiers", params=params, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def counts(day: dict[str, Any]) -> tuple[int, int, int, int, int]:
    return (
        day["healthy"],
        day["at_risk"],
        day["critical"],
        day["unscored"],
        day["subscribers"],
    )


async def test_counts_subscribers_of_each_day_by_the_tier_of_that_days_snapshot(
    client: httpx.AsyncClient, tenant: TenantInfo, conn: AsyncConnection
) -> None:
    d1, d2 = TODAY - timedelta(days=20), TODAY - timedelta(days=10)
    await post_batch(
        client,
        tenant.headers,
        [
            subscribe("stays", iso(midnight(d1) - timedelta(days=5))),
            subscribe("leaves", iso(midnight(d1) - timedelta(days=5))),
            event("cancellation", "leaves", iso(midnight(d1) + timedelta(days=3)), reason="unused"),
            subscribe("pauses", iso(midnight(d1) - timedelta(days=5))),
            event("pause", "pauses", iso(midnight(d2) - timedelta(days=1))),
            subscribe("joins", iso(midnight(d1) + timedelta(days=2))),
            subscribe("unscored", iso(midnight(d1) - timedelta(days=5))),
            event("usage", "lead", iso(midnight(d1) - timedelta(days=5))),
        ],
    )
    everyone = ["stays", "leaves", "pauses", "joins", "unscored", "lead"]
    await snapshot(
        conn,
        tenant,
        d1,
        {
            "stays": "healthy",
            "leaves": "critical",
            "pauses": "at_risk",
            "unscored": None,
            "lead": "healthy",  # never subscribed: not counted
        },
    )
    await snapshot(
        conn,
        tenant,
        d2,
        {
            "stays": "healthy",
            "leaves": "critical",  # cancelled by then: not counted
            "pauses": "critical",  # paused still counts
            "joins": "healthy",
            "unscored": None,
            "lead": "healthy",
        },
    )
    await snapshot(conn, tenant, TODAY, dict.fromkeys(everyone, "at_risk"))

    body = await trend(client, tenant.headers)
    assert (body["start"], body["end"]) == ((TODAY - timedelta(days=89)).isoformat(), str(TODAY))
    by_day = {d["day"]: counts(d) for d in body["days"]}
    assert by_day == {
        d1.isoformat(): (1, 1, 1, 1, 4),
        d2.isoformat(): (2, 0, 1, 1, 4),
        TODAY.isoformat(): (0, 4, 0, 0, 4),
    }
    assert [d["day"] for d in body["days"]] == sorted(by_day)

    # Today's subscribers are the customers active or paused now.
    statuses = {
        c["customer_id"]: c["status"]
        for c in (await client.get("/v1/customers", headers=tenant.headers)).json()["items"]
    }
    assert by_day[TODAY.isoformat()][4] == sum(s in ("active", "paused") for s in statuses.values())

    ranged = await trend(client, tenant.headers, start=str(d2), end=str(d2))
    assert [d["day"] for d in ranged["days"]] == [d2.isoformat()]


async def test_a_change_at_midnight_belongs_to_the_day_it_starts(
    client: httpx.AsyncClient, tenant: TenantInfo, conn: AsyncConnection
) -> None:
    day = TODAY - timedelta(days=5)
    next_midnight = midnight(day + timedelta(days=1))
    await post_batch(
        client,
        tenant.headers,
        [
            subscribe("m", iso(midnight(day) - timedelta(days=30))),
            event(
                "cancellation",
                "m",
                iso(midnight(day) + timedelta(hours=9)),
                reason="too_expensive",
                effective_at=iso(next_midnight),
            ),
            # Subscribes exactly at the midnight that starts the day: a subscriber that day.
            subscribe("n", iso(midnight(day))),
        ],
    )
    await snapshot(conn, tenant, day, {"m": "at_risk", "n": "healthy"})
    await snapshot(conn, tenant, day + timedelta(days=1), {"m": "at_risk", "n": "healthy"})
    body = await trend(client, tenant.headers, start=str(day), end=str(day + timedelta(days=1)))
    assert [counts(d) for d in body["days"]] == [(1, 1, 0, 0, 2), (1, 0, 0, 0, 1)]


async def test_a_day_with_snapshots_but_no_subscribers_is_listed_with_zeros(
    client: httpx.AsyncClient, tenant: TenantInfo, conn: AsyncConnection, app: Any
) -> None:
    await post_batch(client, tenant.headers, [event("usage", "lead", iso(NOW - timedelta(days=3)))])
    await drain_scores(app)
    await snapshot(conn, tenant, TODAY - timedelta(days=2), {"lead": "healthy"})
    body = await trend(client, tenant.headers)
    # The scorer scores the lead and snapshots it today too.
    assert [(d["day"], counts(d)) for d in body["days"]] == [
        (str(TODAY - timedelta(days=2)), (0, 0, 0, 0, 0)),
        (str(TODAY), (0, 0, 0, 0, 0)),
    ]


@pytest.mark.parametrize(
    ("params", "start", "end"),
    [
        ({}, TODAY - timedelta(days=89), TODAY),
        ({"end": "2026-03-31"}, date(2026, 1, 1), date(2026, 3, 31)),
        ({"start": "2020-01-01"}, date(2020, 1, 1), date(2020, 12, 31)),
        ({"start": "2025-12-01", "end": "2025-12-01"}, date(2025, 12, 1), date(2025, 12, 1)),
        # Days take the forms and the range of every time parameter (app.inputs).
        ({"start": "1970-01-01", "end": "1970-01-10"}, date(1970, 1, 1), date(1970, 1, 10)),
        ({"start": "8999-12-01", "end": "8999-12-31"}, date(8999, 12, 1), date(8999, 12, 31)),
        ({"start": "2025-12-01T23:30:00-01:00"}, date(2025, 12, 2), date(2026, 12, 2)),
    ],
)
async def test_range_defaults_and_extremes(
    client: httpx.AsyncClient,
    tenant: TenantInfo,
    params: dict[str, str],
    start: date,
    end: date,
) -> None:
    body = await trend(client, tenant.headers, **params)
    assert (body["start"], body["end"]) == (start.isoformat(), end.isoformat())
    assert body["days"] == []


@pytest.mark.parametrize(
    "params",
    [
        {"start": "2026-02-01", "end": "2026-01-31"},
        {"start": "2025-01-01", "end": "2026-01-02"},
        {"start": str(TODAY + timedelta(days=1))},
        {"start": "2026-13-01"},
        {"end": "yesterday"},
        {"start": "2026-01-01\x00"},
        {"start": "1" * 5000},
    ],
)
async def test_bad_ranges_are_422(
    client: httpx.AsyncClient, tenant: TenantInfo, params: dict[str, str]
) -> None:
    response = await client.get("/v1/health/tiers", params=params, headers=tenant.headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"]


async def test_needs_a_read_key_and_sees_only_its_tenant(
    client: httpx.AsyncClient,
    tenant: TenantInfo,
    other_tenant: TenantInfo,
    conn: AsyncConnection,
    app: Any,
) -> None:
    await post_batch(client, tenant.headers, [subscribe("a", iso(NOW - timedelta(days=30)))])
    await drain_scores(app)
    await snapshot(conn, tenant, TODAY, {"a": "healthy"})
    # The other tenant has a customer of the same id, never subscribed, and a snapshot too.
    await post_batch(
        client, other_tenant.headers, [event("usage", "a", iso(NOW - timedelta(days=30)))]
    )
    await drain_scores(app)
    await snapshot(conn, other_tenant, TODAY - timedelta(days=1), {"a": "critical"})

    reader = await make_key(client, tenant, "read")
    mine = await trend(client, bearer(reader))
    assert [counts(d) for d in mine["days"]] == [(1, 0, 0, 0, 1)]
    theirs = await trend(client, other_tenant.headers)
    assert [(d["day"], counts(d)) for d in theirs["days"]] == [
        (str(TODAY - timedelta(days=1)), (0, 0, 0, 0, 0)),
        (str(TODAY), (0, 0, 0, 0, 0)),
    ]

    writer = await make_key(client, tenant, "events:write")
    assert (await client.get("/v1/health/tiers", headers=bearer(writer))).status_code == 403
    assert (await client.get("/v1/health/tiers")).status_code == 401
