"""Churn metrics through the API, on rows written straight into customer_status_changes
(ingestion lands separately), with hand-computed expectations."""

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.metrics import churn
from tests.conftest import TenantInfo, bearer, make_key
from tests.metrics_helpers import Customer, at, store

PROBLEM = "application/problem+json"
AS_OF = "2030-01-01T00:00:00Z"


async def get(
    client: httpx.AsyncClient, tenant: TenantInfo, path: str, **params: Any
) -> dict[str, Any]:
    params.setdefault("as_of", AS_OF)
    response = await client.get(f"/v1/metrics/{path}", params=params, headers=tenant.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def march(client: httpx.AsyncClient, tenant: TenantInfo, **params: Any) -> dict[str, Any]:
    body = await get(client, tenant, "churn", start="2025-03-01", end="2025-04-01", **params)
    assert len(body["periods"]) == 1
    period: dict[str, Any] = body["periods"][0]
    return period


def iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


# -- the definitions, end to end ---------------------------------------------------------------


async def test_worked_example_120_customers_30_lost_is_25_percent(
    client: httpx.AsyncClient, tenant: TenantInfo, conn: AsyncConnection
) -> None:
    customers = [Customer(f"c{i:03}").start(at(2025, 1, 10), 1_000) for i in range(120)]
    for c in customers[:30]:
        c.cancel(at(2025, 3, 20), "too_expensive")
    await store(conn, tenant.id, *customers)

    body = await get(client, tenant, "churn", start="2025-03-01", end="2025-04-01")
    assert (body["currency"], body["other_currencies"], body["granularity"]) == ("USD", [], "month")
    assert body["periods"] == [
        {
            "start": "2025-03-01T00:00:00Z",
            "end": "2025-04-01T00:00:00Z",
            "customers_at_start": 120,
            "customers_at_end": 90,
            "churned": 30,
            "churn_rate": 25.0,
            "new": 0,
            "reactivated": 0,
            "paused": 0,
            "mrr_at_start": 120_000,
            "mrr_at_end": 90_000,
            "mrr_new": 0,
            "mrr_churned": 30_000,
            "mrr_contraction": 0,
            "mrr_expansion": 0,
            "revenue_churn_rate": 25.0,
            "net_revenue_retention": 75.0,
        }
    ]


async def test_every_period_is_present_even_when_nothing_happened(
    client: httpx.AsyncClient, tenant: TenantInfo, conn: AsyncConnection
) -> None:
    await store(
        conn,
        tenant.id,
        Customer("a").start(at(2025, 3, 10), 1_000),
        Customer("b").start(at(2025, 3, 12), 2_000).cancel(at(2025, 5, 1)),
    )
    body = await get(client, tenant, "churn", start="2025-01-15", end="2025-07-01")
    periods = body["periods"]
    expected = churn.periods(at(2025, 1, 15), at(2025, 7, 1), "month")
    assert [p["start"] for p in periods] == [iso(p.start) for p in expected]
    assert [p["end"] for p in periods] == [iso(p.end) for p in expected]
    jan, feb, mar, apr, may, jun = periods
    assert jan["customers_at_start"] == feb["customers_at_start"] == 0
    assert jan["churn_rate"] is None and jan["net_revenue_retention"] is None
    assert (mar["new"], mar["mrr_new"], mar["customers_at_end"]) == (2, 3_000, 2)
    assert (apr["customers_at_start"], apr["churned"], apr["churn_rate"]) == (2, 0, 0.0)
    assert (may["customers_at_start"], may["churned"], may["churn_rate"]) == (2, 1, 50.0)
    assert (jun["customers_at_start"], jun["mrr_at_start"], jun["churn_rate"]) == (1, 1_000, 0.0)


async def test_start_and_cancel_inside_a_period_is_not_in_the_denominator(
    client: httpx.AsyncClient, tenant: TenantInfo, conn: AsyncConnection
) -> None:
    await store(
        conn,
        tenant.id,
        Customer("kept").start(at(2025, 1), 1_000),
        Customer("lost").start(at(2025, 1), 1_000).cancel(at(2025, 3, 30)),
        Customer("brief").start(at(2025, 3, 2), 5_000).cancel(at(2025, 3, 20)),
    )
    got = await march(client, tenant)
    assert (got["customers_at_start"], got["churned"], got["churn_rate"]) == (2, 1, 50.0)
    assert (got["new"], got["mrr_new"], got["customers_at_end"]) == (1, 0, 1)


async def test_cancel_and_return_inside_a_period_is_not_churn(
    client: httpx.AsyncClient, tenant: TenantInfo, conn: AsyncConnection
) -> None:
    back = Customer("back").start(at(2025, 1), 1_000).cancel(at(2025, 3, 5))
    back.start(at(2025, 3, 25), 1_200)
    await store(conn, tenant.id, back)
    got = await march(client, tenant)
    assert (got["churned"], got["churn_rate"], got["reactivated"], got["new"]) == (0, 0.0, 1, 0)
    assert (got["mrr_expansion"], got["net_revenue_retention"]) == (200, 120.0)


async def test_downgrades_contract_and_upgrades_expand(
    client: httpx.AsyncClient, tenant: TenantInfo, conn: AsyncConnection
) -> None:
    await store(
        conn,
        tenant.id,
        Customer("down").start(at(2025, 1), 10_000).change(at(2025, 3, 3), 7_000, plan="basic"),
        Customer("up").start(at(2025, 1), 2_000).change(at(2025, 3, 4), 5_000),
        Customer("gone").start(at(2025, 2), 8_000).cancel(at(2025, 3, 5)),
    )
    got = await march(client, tenant)
    assert got["mrr_at_start"] == 20_000
    assert (got["mrr_churned"], got["mrr_contraction"], got["mrr_expansion"]) == (
        8_000,
        3_000,
        3_000,
    )
    assert got["revenue_churn_rate"] == 55.0  # (8000 + 3000) / 20000
    assert got["net_revenue_retention"] == 60.0  # (7000 + 5000) / 20000
    assert got["mrr_at_end"] == 12_000


async def test_pauses_are_not_churn_and_count_as_zero_mrr(
    client: httpx.AsyncClient, tenant: TenantInfo, conn: AsyncConnection
) -> None:
    await store(
        conn,
        tenant.id,
        Customer("pauses").start(at(2025, 1), 3_000).pause(at(2025, 3, 10)),
        Customer("stays").start(at(2025, 1), 1_000),
    )
    got = await march(client, tenant)
    assert (got["churned"], got["paused"], got["customers_at_end"]) == (0, 1, 2)
    assert (got["mrr_at_start"], got["mrr_at_end"], got["mrr_contraction"]) == (4_000, 1_000, 3_000)
    assert got["revenue_churn_rate"] == 75.0


async def test_changes_exactly_on_boundaries_belong_to_the_period_starting_there(
    client: httpx.AsyncClient, tenant: TenantInfo, conn: AsyncConnection
) -> None:
    await store(
        conn,
        tenant.id,
        Customer("a").start(at(2025, 2, 1), 1_000).cancel(at(2025, 3, 1)),
        Customer("b").start(at(2025, 3, 1), 2_000).cancel(at(2025, 4, 1)),
    )
    body = await get(client, tenant, "churn", start="2025-02-01", end="2025-05-01")
    feb, mar, apr = body["periods"]
    assert (feb["new"], feb["customers_at_end"], feb["churned"]) == (1, 1, 0)
    assert (mar["customers_at_start"], mar["churned"], mar["new"]) == (1, 1, 1)
    assert mar["customers_at_end"] == 1  # b: its cancellation on 1 April is April's
    assert (apr["customers_at_start"], apr["churned"], apr["customers_at_end"]) == (1, 1, 0)


async def test_a_cancellation_counts_when_it_takes_effect_and_future_rows_are_ignored(
    client: httpx.AsyncClient, tenant: TenantInfo, conn: AsyncConnection
) -> None:
    now = datetime.now(UTC)
    scheduled = Customer("scheduled").start(now - timedelta(days=400), 1_000)
    scheduled.cancel(now + timedelta(days=40))  # requested today, effective at period end
    await store(
        conn,
        tenant.id,
        scheduled,
        Customer("fixed").start(at(2025, 1), 1_000).cancel(at(2025, 4, 30)),
    )
    april = {"start": "2025-04-01", "end": "2025-05-01"}
    before = await get(client, tenant, "churn", as_of="2025-04-20T00:00:00Z", **april)
    after = await get(client, tenant, "churn", as_of="2025-05-02T00:00:00Z", **april)
    assert before["periods"][0]["churned"] == 0  # the row exists but is not effective yet
    assert after["periods"][0]["churned"] == 1

    # no as_of: now. The scheduled cancellation is not counted anywhere yet.
    window = {"start": iso(now - timedelta(days=1)), "end": iso(now + timedelta(days=80))}
    response = await client.get("/v1/metrics/churn", params=window, headers=tenant.headers)
    assert response.status_code == 200
    assert all(p["churned"] == 0 for p in response.json()["periods"])
    assert response.json()["periods"][-1]["customers_at_end"] == 1
    summary = (await client.get("/v1/metrics/summary", headers=tenant.headers)).json()
    assert (summary["customers"]["active"], summary["customers"]["cancelled"]) == (1, 1)


async def test_plan_filter_takes_customers_on_the_plan_at_period_start(
    client: httpx.AsyncClient, tenant: TenantInfo, conn: AsyncConnection
) -> None:
    await store(
        conn,
        tenant.id,
        Customer("p1", plan="pro").start(at(2025, 1), 5_000).cancel(at(2025, 3, 9)),
        Customer("p2", plan="pro").start(at(2025, 1), 5_000).change(at(2025, 3, 9), 1_000, "basic"),
        Customer("b1", plan="basic").start(at(2025, 1), 1_000).change(at(2025, 3, 9), 5_000, "pro"),
        Customer("new", plan="pro").start(at(2025, 3, 2), 5_000),
    )
    pro = await march(client, tenant, plan="pro")
    assert (pro["customers_at_start"], pro["churned"], pro["mrr_contraction"]) == (2, 1, 4_000)
    assert (pro["new"], pro["customers_at_end"]) == (0, 1)
    basic = await march(client, tenant, plan="basic")
    assert (basic["customers_at_start"], basic["mrr_expansion"], basic["churn_rate"]) == (
        1,
        4_000,
        0.0,
    )
    nobody = await march(client, tenant, plan="enterprise")
    assert (nobody["customers_at_start"], nobody["churn_rate"]) == (0, None)


async def test_currency_defaults_to_the_dominant_one_and_others_are_left_out(
    client: httpx.AsyncClient, tenant: TenantInfo, conn: AsyncConnection
) -> None:
    await store(
        conn,
        tenant.id,
        *[Customer(f"e{i}", currency="EUR").start(at(2025, 1), 1_000) for i in range(3)],
        Customer("u1", currency="USD").start(at(2025, 1), 50_000).cancel(at(2025, 3, 3)),
        Customer("u2", currency="USD").start(at(2025, 1), 10_000),
        Customer("none", currency=None).start(at(2025, 1), 500),
    )
    body = await get(client, tenant, "churn", start="2025-03-01", end="2025-04-01")
    assert (body["currency"], body["other_currencies"]) == ("EUR", ["USD"])
    eur = body["periods"][0]
    assert (eur["customers_at_start"], eur["mrr_at_start"], eur["churned"]) == (4, 3_500, 0)
    usd = await get(client, tenant, "churn", start="2025-03-01", end="2025-04-01", currency="USD")
    assert (usd["currency"], usd["other_currencies"]) == ("USD", ["EUR"])
    got = usd["periods"][0]
    assert (got["customers_at_start"], got["mrr_at_start"], got["churned"]) == (3, 60_500, 1)


async def test_granularities_through_the_api(
    client: httpx.AsyncClient, tenant: TenantInfo, conn: AsyncConnection
) -> None:
    await store(conn, tenant.id, Customer("a").start(at(2025, 1, 8), 700).cancel(at(2025, 1, 9)))
    weeks = await get(
        client, tenant, "churn", start="2025-01-01", end="2025-01-15", granularity="week"
    )
    assert [p["start"] for p in weeks["periods"]] == [
        "2024-12-30T00:00:00Z",
        "2025-01-06T00:00:00Z",
        "2025-01-13T00:00:00Z",
    ]
    assert [p["new"] for p in weeks["periods"]] == [0, 1, 0]
    days = await get(
        client, tenant, "churn", start="2025-01-08", end="2025-01-10", granularity="day"
    )
    assert [(p["new"], p["churned"]) for p in days["periods"]] == [(1, 0), (0, 1)]
    quarters = await get(
        client, tenant, "churn", start="2025-01-01", end="2025-06-30", granularity="quarter"
    )
    assert [p["end"] for p in quarters["periods"]] == [
        "2025-04-01T00:00:00Z",
        "2025-07-01T00:00:00Z",
    ]


# -- cohorts, cancellations, summary -----------------------------------------------------------


async def test_cohort_retention_matrix(
    client: httpx.AsyncClient, tenant: TenantInfo, conn: AsyncConnection
) -> None:
    await store(
        conn,
        tenant.id,
        Customer("a").start(at(2025, 1, 5), 1_000).change(at(2025, 2, 10), 1_500),
        Customer("b").start(at(2025, 1, 20), 1_000).cancel(at(2025, 3, 1)),
        Customer("c").start(at(2025, 2, 3), 2_000).pause(at(2025, 2, 4)),
    )
    body = await get(
        client,
        tenant,
        "cohorts",
        start="2025-01-01",
        end="2025-06-01",
        as_of="2025-03-15T00:00:00Z",
    )
    assert [c["start"] for c in body["cohorts"]] == [
        "2025-01-01T00:00:00Z",
        "2025-02-01T00:00:00Z",
        "2025-03-01T00:00:00Z",
    ]
    jan, feb, mar = body["cohorts"]
    assert (jan["customers"], jan["starting_mrr"]) == (2, 2_000)
    assert [
        (c["index"], c["active"], c["customer_retention"], c["mrr"], c["revenue_retention"])
        for c in jan["periods"]
    ] == [(0, 2, 100.0, 2_000, 100.0), (1, 2, 100.0, 2_500, 125.0), (2, 1, 50.0, 1_500, 75.0)]
    assert [(c["active"], c["revenue_retention"]) for c in feb["periods"]] == [(1, 0.0), (1, 0.0)]
    assert (mar["customers"], mar["periods"][0]["customer_retention"]) == (0, None)


async def test_cancellations_by_reason_with_flow_figures_ready(
    client: httpx.AsyncClient, tenant: TenantInfo, conn: AsyncConnection
) -> None:
    await store(
        conn,
        tenant.id,
        Customer("a").start(at(2025, 1), 1_000).cancel(at(2025, 3, 2), "too_expensive"),
        Customer("b").start(at(2025, 1), 3_000).cancel(at(2025, 3, 3), "too_expensive"),
        Customer("c").start(at(2025, 1), 500).cancel(at(2025, 3, 4), "unused"),
        Customer("d").start(at(2025, 1), 700).pause(at(2025, 2)).cancel(at(2025, 3, 5)),
        Customer("e").start(at(2025, 1), 900).cancel(at(2025, 4, 1), "unused"),
    )
    body = await get(client, tenant, "cancellations", start="2025-03-01", end="2025-04-01")
    assert (body["cancellations"], body["mrr_lost"]) == (4, 4_500)
    assert body["by_reason"] == [
        {"reason": "too_expensive", "cancellations": 2, "mrr_lost": 4_000},
        {"reason": "unused", "cancellations": 1, "mrr_lost": 500},
        {"reason": None, "cancellations": 1, "mrr_lost": 0},
    ]  # fmt: skip
    assert (body["flows_started"], body["saved"], body["save_rate"], body["by_offer_kind"]) == (
        0,
        0,
        None,
        [],
    )
    empty = await get(client, tenant, "cancellations", start="2024-01-01", end="2024-02-01")
    assert (empty["cancellations"], empty["by_reason"]) == (0, [])


async def test_summary_counts_statuses_leads_mrr_and_benchmarks_last_month(
    client: httpx.AsyncClient, tenant: TenantInfo, conn: AsyncConnection
) -> None:
    customers = [Customer(f"c{i:02}").start(at(2025, 1), 1_000) for i in range(16)]
    customers[0].cancel(at(2025, 2, 10))  # February: 1 of 16 lost = 6.25%
    customers[1].pause(at(2025, 3, 2))
    customers[2].cancel(at(2025, 3, 3))
    await store(conn, tenant.id, *customers)
    await conn.execute(
        text(
            "INSERT INTO customers (tenant_id, customer_id, first_seen_at, last_seen_at)"
            " SELECT CAST(:t AS uuid), c, CAST(:seen AS timestamptz), CAST(:seen AS timestamptz)"
            " FROM unnest(ARRAY['lead1', 'lead2', 'lead3', 'c00']) AS c"
        ),
        {"t": tenant.id, "seen": at(2024, 12, 1)},
    )
    body = await get(client, tenant, "summary", as_of="2025-03-15T00:00:00Z")
    assert body["customers"] == {"lead": 3, "active": 13, "paused": 1, "cancelled": 2}
    assert body["mrr"] == 13_000
    assert (body["last_month"]["start"], body["last_month"]["end"]) == (
        "2025-02-01T00:00:00Z",
        "2025-03-01T00:00:00Z",
    )
    assert (body["last_month"]["churned"], body["last_month"]["churn_rate"]) == (1, 6.25)
    assert body["benchmark"] == "watch"
    in_april = await get(client, tenant, "summary", as_of="2025-04-02T00:00:00Z")
    assert in_april["last_month"]["churn_rate"] == 100 / 15
    assert in_april["benchmark"] == "watch"
    in_may = await get(client, tenant, "summary", as_of="2025-05-02T00:00:00Z")
    assert (in_may["last_month"]["churn_rate"], in_may["benchmark"]) == (0.0, "healthy")


async def test_summary_without_any_data(client: httpx.AsyncClient, tenant: TenantInfo) -> None:
    response = await client.get("/v1/metrics/summary", headers=tenant.headers)
    assert response.status_code == 200
    body = response.json()
    assert body["customers"] == {"lead": 0, "active": 0, "paused": 0, "cancelled": 0}
    assert (body["currency"], body["mrr"], body["benchmark"]) == ("USD", 0, None)
    assert body["last_month"]["churn_rate"] is None


# -- tenancy, auth, validation -----------------------------------------------------------------


async def test_a_tenant_sees_only_its_own_customers(
    client: httpx.AsyncClient,
    tenant: TenantInfo,
    other_tenant: TenantInfo,
    conn: AsyncConnection,
) -> None:
    await store(
        conn,
        tenant.id,
        Customer("shared-id").start(at(2025, 1), 1_000).cancel(at(2025, 3, 5), "unused"),
        Customer("mine").start(at(2025, 1), 1_000),
    )
    await store(
        conn,
        other_tenant.id,
        Customer("shared-id", currency="EUR").start(at(2025, 1), 9_000),
    )
    mine = await march(client, tenant)
    theirs = await march(client, other_tenant)
    assert (mine["customers_at_start"], mine["churned"], mine["mrr_at_start"]) == (2, 1, 2_000)
    assert (theirs["customers_at_start"], theirs["churned"], theirs["mrr_at_start"]) == (
        1,
        0,
        9_000,
    )
    their_cancellations = await get(
        client, other_tenant, "cancellations", start="2025-03-01", end="2025-04-01"
    )
    assert their_cancellations["by_reason"] == []
    their_summary = await get(client, other_tenant, "summary")
    assert (their_summary["currency"], their_summary["other_currencies"]) == ("EUR", [])
    assert their_summary["customers"]["active"] == 1


@pytest.mark.parametrize("path", ["churn", "cohorts", "cancellations", "summary"])
async def test_metrics_need_a_key_with_the_read_scope(
    client: httpx.AsyncClient, tenant: TenantInfo, path: str
) -> None:
    params = {"start": "2025-01-01", "end": "2025-02-01"} if path != "summary" else {}
    url = f"/v1/metrics/{path}"
    missing = await client.get(url, params=params)
    assert missing.status_code == 401
    writer = await make_key(client, tenant, "events:write")
    forbidden = await client.get(url, params=params, headers=bearer(writer))
    assert (forbidden.status_code, forbidden.headers["content-type"]) == (403, PROBLEM)
    reader = await make_key(client, tenant, "read")
    assert (await client.get(url, params=params, headers=bearer(reader))).status_code == 200


@pytest.mark.parametrize(
    ("path", "params", "loc"),
    [
        ("churn", {"start": "2025-02-01", "end": "2025-02-01"}, ["query"]),
        ("churn", {"start": "2025-03-01", "end": "2025-02-01"}, ["query"]),
        ("churn", {"start": "2025-01-01T10:00:00", "end": "2025-02-01"}, ["query", "start"]),
        ("churn", {"start": "2025-01-01", "end": "2028-01-01", "granularity": "day"}, ["query"]),
        ("churn", {"start": "2025-01-01", "end": "2025-02-01", "granularity": "year"},
         ["query", "granularity"]),
        ("churn", {"start": "2025-01-01", "end": "2025-02-01", "currency": "usd"},
         ["query", "currency"]),
        ("churn", {"start": "2025-01-01", "end": "2025-02-01", "plan": "a\x00b"},
         ["query", "plan"]),
        ("churn", {"start": "2025-01-01", "end": "2025-02-01", "plan": "p" * 201},
         ["query", "plan"]),
        ("churn", {"start": "2025-01-01", "end": "2025-02-01", "tenant_id": "x"},
         ["query", "tenant_id"]),
        ("churn", {"start": "0001-01-01T00:00:00+01:00", "end": "2025-02-01"},
         ["query", "start"]),
        ("churn", {"start": "1899-12-31", "end": "2025-02-01"}, ["query", "start"]),
        ("churn", {"start": "2025-01-01", "end": "9999-12-31T23:59:59Z"}, ["query", "end"]),
        ("churn", {"start": "2025-01-01", "end": "2025-02-01", "as_of": "yesterday"},
         ["query", "as_of"]),
        ("churn", {"end": "2025-02-01"}, ["query", "start"]),
        ("cohorts", {"start": "2025-01-01", "end": "2025-02-01", "granularity": "day"},
         ["query", "granularity"]),
        ("cohorts", {"start": "2000-01-01", "end": "2025-02-01"}, ["query"]),
        ("cancellations", {"start": "2025-03-01", "end": "2025-01-01"}, ["query"]),
        ("summary", {"as_of": "2025-01-01T00:00:00"}, ["query", "as_of"]),
    ],
)  # fmt: skip
async def test_invalid_queries_are_422_problems(
    client: httpx.AsyncClient,
    tenant: TenantInfo,
    path: str,
    params: dict[str, str],
    loc: list[str],
) -> None:
    response = await client.get(f"/v1/metrics/{path}", params=params, headers=tenant.headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    assert any(error["loc"][: len(loc)] == loc for error in response.json()["errors"])


async def test_dates_are_utc_midnight_and_offsets_are_honoured(
    client: httpx.AsyncClient, tenant: TenantInfo, conn: AsyncConnection
) -> None:
    await store(conn, tenant.id, Customer("a").start(at(2025, 3, 31, 23), 1_000))
    # 1 April 01:00 in UTC+2 is 31 March 23:00 UTC: still March, so the month grid is March
    body = await get(client, tenant, "churn", start="2025-04-01T01:00:00+02:00", end="2025-04-01")
    assert [(p["start"], p["new"]) for p in body["periods"]] == [("2025-03-01T00:00:00Z", 1)]


async def test_openapi_documents_the_definitions_and_errors(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    for path in ("churn", "cohorts", "cancellations", "summary"):
        operation = spec["paths"][f"/v1/metrics/{path}"]["get"]
        assert {"401", "403", "422"} <= operation["responses"].keys()
        assert "strictly" in operation["description"]  # the boundary rule
        assert "paused" in operation["description"]
    churn_doc = spec["paths"]["/v1/metrics/churn"]["get"]["description"]
    assert "churn_rate 25" in churn_doc and "net_revenue_retention" in churn_doc
