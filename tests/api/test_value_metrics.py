"""Lifetime value, cohort revenue and repeat purchases through the API, fed by POST /v1/events,
with hand-computed expectations (the SQL alone is held to the pure reference in
test_value_metrics_property.py)."""

from typing import Any

import httpx
import pytest

from tests.conftest import TenantInfo, bearer, make_key
from tests.factories import event, post_batch, purchase, subscribe

PROBLEM = "application/problem+json"


async def get(
    client: httpx.AsyncClient, tenant: TenantInfo, path: str, **params: Any
) -> dict[str, Any]:
    response = await client.get(f"/v1/metrics/{path}", params=params, headers=tenant.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


# a, b, d subscribed in December; c and e in January. b is lost in February, d pauses in
# January (active with MRR 0 from then on).
HISTORY = [
    subscribe("a", "2024-12-01T00:00:00Z", mrr=1000),
    subscribe("b", "2024-12-01T00:00:00Z", mrr=3000),
    subscribe("d", "2024-12-01T00:00:00Z", mrr=2000),
    subscribe("c", "2025-01-15T09:00:00Z", mrr=2000),
    subscribe("e", "2025-01-31T12:00:00Z", mrr=1000),
    event("pause", "d", "2025-01-20T00:00:00Z"),
    event("cancellation", "b", "2025-02-10T00:00:00Z", reason="too_expensive"),
    # c pays monthly; the payment exactly one month after activation is outside the 1-month
    # span; a payment in another currency never counts
    purchase("c", "2025-02-15T09:00:00Z", amount=2000),
    purchase("c", "2025-03-15T09:00:00Z", amount=2000),
    purchase("c", "2025-07-20T00:00:00Z", amount=500),
    purchase("c", "2025-01-20T00:00:00Z", amount=999, currency="EUR"),
    # 31 January + 1 month is 28 February (12:00): 13:00 that day is past the 1-month span
    purchase("e", "2025-02-28T13:00:00Z", amount=1000),
]


async def test_ltv_arpa_and_churn_by_hand(client: httpx.AsyncClient, tenant: TenantInfo) -> None:
    assert (await post_batch(client, tenant.headers, HISTORY))["rejected"] == 0
    body = await get(
        client, tenant, "ltv", start="2025-01-01", end="2025-04-01", as_of="2025-08-01"
    )
    assert (body["currency"], body["other_currencies"]) == ("USD", [])
    months = [
        (m["start"][:10], m["customers_at_start"], m["mrr_at_start"], m["churned"])
        for m in body["months"]
    ]
    assert months == [
        ("2025-01-01", 3, 6000, 0),  # a, b, d
        ("2025-02-01", 5, 7000, 1),  # + c, e; d paused (0); b lost
        ("2025-03-01", 4, 4000, 0),
    ]
    assert body["months"][1]["churn_rate"] == 20.0
    assert (body["customer_months"], body["mrr_months"], body["churned"]) == (12, 17000, 1)
    assert body["arpa"] == 17000 / 12
    assert body["monthly_churn_rate"] == 100 / 12
    assert body["ltv"] == 17000.0  # = arpa / (churn / 100)

    cohorts = {c["start"][:10]: c for c in body["cohorts"]}
    assert list(cohorts) == ["2025-01-01", "2025-02-01", "2025-03-01"]
    january = cohorts["2025-01-01"]
    assert january["customers"] == 2
    horizons = [(h["months"], h["revenue"], h["revenue_per_customer"]) for h in january["horizons"]]
    assert horizons == [
        (1, 2000 + 1000, 1500.0),
        (3, 6000 + 2000, 4000.0),
        (6, 8000, 4000.0),  # c's July payment is 6 months and 5 days after activation
        (12, None, None),  # not a year old yet
    ]
    february = cohorts["2025-02-01"]
    assert february["customers"] == 0
    assert [(h["revenue"], h["revenue_per_customer"]) for h in february["horizons"]] == [
        (0, None),
        (0, None),
        (None, None),  # 1 March + 6 months is after as_of
        (None, None),
    ]


async def test_ltv_is_null_without_churn_and_counts_only_complete_months(
    client: httpx.AsyncClient, tenant: TenantInfo
) -> None:
    await post_batch(client, tenant.headers, HISTORY)
    # only March 2025 is complete by 2025-04-15; nobody was lost in it
    body = await get(
        client, tenant, "ltv", start="2025-03-01", end="2025-06-01", as_of="2025-04-15"
    )
    assert [m["start"][:10] for m in body["months"]] == ["2025-03-01"]
    assert (body["arpa"], body["monthly_churn_rate"], body["ltv"]) == (1000.0, 0.0, None)
    # no complete month at all
    body = await get(
        client, tenant, "ltv", start="2025-04-01", end="2025-06-01", as_of="2025-04-15"
    )
    assert body["months"] == []
    assert (body["customer_months"], body["arpa"], body["monthly_churn_rate"], body["ltv"]) == (
        0,
        None,
        None,
        None,
    )


async def test_ltv_plan_filter(client: httpx.AsyncClient, tenant: TenantInfo) -> None:
    await post_batch(
        client,
        tenant.headers,
        [
            subscribe("p1", "2025-01-05T00:00:00Z", mrr=1000, plan="basic"),
            subscribe("p2", "2025-01-05T00:00:00Z", mrr=5000, plan="pro"),
            subscribe("p3", "2025-01-06T00:00:00Z", mrr=5000, plan="pro"),
            event("cancellation", "p3", "2025-02-03T00:00:00Z"),
        ],
    )
    body = await get(
        client,
        tenant,
        "ltv",
        start="2025-02-01",
        end="2025-03-01",
        as_of="2026-01-01",
        plan="pro",
    )
    assert (body["customer_months"], body["mrr_months"], body["churned"]) == (2, 10000, 1)
    assert (body["arpa"], body["monthly_churn_rate"], body["ltv"]) == (5000.0, 50.0, 10000.0)
    assert body["cohorts"] == [
        {
            "start": "2025-02-01T00:00:00Z",
            "end": "2025-03-01T00:00:00Z",
            "customers": 0,
            "horizons": [
                {"months": n, "revenue": 0, "revenue_per_customer": None} for n in (1, 3, 6)
            ]
            + [{"months": 12, "revenue": None, "revenue_per_customer": None}],
        }
    ]
    january = await get(
        client,
        tenant,
        "ltv",
        start="2025-01-01",
        end="2025-02-01",
        as_of="2026-03-01",
        plan="pro",
    )
    (cohort,) = january["cohorts"]
    assert cohort["customers"] == 2  # p1 started on basic
    assert [h["revenue"] for h in cohort["horizons"]] == [10000] * 4


PURCHASES = [
    # x: two purchases on 2 March are one purchase day; days 2, 12, 22 March
    purchase("x", "2025-03-02T10:00:00Z", amount=1000),
    purchase("x", "2025-03-02T18:00:00Z", amount=1000),
    purchase("x", "2025-03-12T10:00:00Z", amount=1000),
    purchase("x", "2025-03-22T10:00:00Z", amount=1000),
    # y: one purchase day in March (and one in February, outside the window)
    purchase("y", "2025-02-20T10:00:00Z", amount=1000),
    purchase("y", "2025-03-05T10:00:00Z", amount=1000),
    # z: 1 March at midnight is inside; days 1, 4, 30 March
    purchase("z", "2025-03-01T00:00:00Z", amount=1000),
    purchase("z", "2025-03-04T10:00:00Z", amount=1000),
    purchase("z", "2025-03-30T10:00:00Z", amount=1000),
    # w: three purchases on one day: a one-time buyer
    purchase("w", "2025-03-10T08:00:00Z", amount=500),
    purchase("w", "2025-03-10T12:00:00Z", amount=500),
    purchase("w", "2025-03-10T16:00:00Z", amount=500),
    # q: five consecutive days
    *[purchase("q", f"2025-03-0{d}T10:00:00Z", amount=100) for d in range(3, 8)],
    # v buys in euros
    purchase("v", "2025-03-03T10:00:00Z", amount=700, currency="EUR"),
    purchase("v", "2025-03-06T10:00:00Z", amount=700, currency="EUR"),
    # u: just outside the window on both sides
    purchase("u", "2025-02-28T23:59:59Z", amount=1000),
    purchase("u", "2025-04-01T00:00:00Z", amount=1000),
]


async def test_repeat_purchases_by_hand(client: httpx.AsyncClient, tenant: TenantInfo) -> None:
    assert (await post_batch(client, tenant.headers, PURCHASES))["rejected"] == 0
    body = await get(
        client, tenant, "repeat-purchases", start="2025-03-01", end="2025-04-01", as_of=AS_OF
    )
    assert (body["currency"], body["other_currencies"]) == ("USD", ["EUR"])
    assert (body["purchases"], body["revenue"]) == (4 + 1 + 3 + 3 + 5, 8000 + 1500 + 500)
    assert (body["buyers"], body["repeat_buyers"]) == (5, 3)  # x, y, z, w, q; x, z, q
    assert body["repeat_purchase_rate"] == 60.0
    # gaps: x 10, 10; z 3, 26; q 1, 1, 1, 1 -> 1 1 1 1 3 10 10 26 -> (1 + 3) / 2
    assert body["median_days_between_purchases"] == 2.0
    assert body["frequency"] == [
        {"purchase_days": "1", "customers": 2, "share": 40.0},  # y, w
        {"purchase_days": "2", "customers": 0, "share": 0.0},
        {"purchase_days": "3", "customers": 2, "share": 40.0},  # x, z
        {"purchase_days": "4", "customers": 0, "share": 0.0},
        {"purchase_days": "5+", "customers": 1, "share": 20.0},  # q
    ]

    euros = await get(
        client,
        tenant,
        "repeat-purchases",
        start="2025-03-01",
        end="2025-04-01",
        as_of=AS_OF,
        currency="EUR",
    )
    assert (euros["buyers"], euros["repeat_purchase_rate"]) == (1, 100.0)
    assert (euros["median_days_between_purchases"], euros["revenue"]) == (3.0, 1400)
    assert euros["other_currencies"] == ["USD"]

    # as_of cuts purchases that occurred later
    early = await get(
        client, tenant, "repeat-purchases", start="2025-03-01", end="2025-04-01", as_of="2025-03-05"
    )
    # x (2 Mar), z (1, 4 Mar), q (3, 4 Mar); y's 5 March purchase is at 10:00, after as_of
    assert (early["buyers"], early["repeat_buyers"]) == (3, 2)
    assert early["median_days_between_purchases"] == 2.0  # z 3, q 1


async def test_repeat_purchases_without_buyers(
    client: httpx.AsyncClient, tenant: TenantInfo
) -> None:
    body = await get(client, tenant, "repeat-purchases", start="2025-03-01", end="2025-04-01")
    assert (body["currency"], body["buyers"], body["repeat_purchase_rate"]) == ("USD", 0, None)
    assert body["median_days_between_purchases"] is None
    assert [f["share"] for f in body["frequency"]] == [None] * 5


AS_OF = "2026-01-01T00:00:00Z"


async def test_other_tenants_purchases_are_invisible(
    client: httpx.AsyncClient, tenant: TenantInfo, other_tenant: TenantInfo
) -> None:
    await post_batch(client, tenant.headers, PURCHASES + HISTORY)
    theirs = await get(
        client, other_tenant, "repeat-purchases", start="2025-01-01", end="2025-04-01"
    )
    assert (theirs["buyers"], theirs["purchases"]) == (0, 0)
    ltv = await get(client, other_tenant, "ltv", start="2025-01-01", end="2025-04-01")
    assert ltv["customer_months"] == 0
    assert all(c["customers"] == 0 for c in ltv["cohorts"])


@pytest.mark.parametrize(
    ("path", "params", "loc"),
    [
        ("ltv", {"start": "2025-01-01"}, ["query", "end"]),
        ("ltv", {"start": "2025-01-01", "end": "2035-02-01"}, ["query"]),
        ("ltv", {"start": "2025-01-01", "end": "2025-02-01", "plan": "a\x00"}, ["query", "plan"]),
        ("repeat-purchases", {"start": "2025-02-01", "end": "2025-01-01"}, ["query"]),
        (
            "repeat-purchases",
            {"start": "2025-01-01", "end": "2025-02-01", "currency": "usd"},
            ["query", "currency"],
        ),
        (
            "repeat-purchases",
            {"start": "2025-01-01T00:00:00", "end": "2025-02-01"},
            ["query", "start"],
        ),
        (
            "repeat-purchases",
            {"start": "2025-01-01", "end": "2025-02-01", "x": "1"},
            ["query", "x"],
        ),
    ],
)
async def test_invalid_queries_are_422(
    client: httpx.AsyncClient,
    tenant: TenantInfo,
    path: str,
    params: dict[str, str],
    loc: list[str],
) -> None:
    response = await client.get(f"/v1/metrics/{path}", params=params, headers=tenant.headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    assert any(e["loc"][: len(loc)] == loc for e in response.json()["errors"]), response.text


async def test_value_metrics_need_the_read_scope(
    client: httpx.AsyncClient, tenant: TenantInfo
) -> None:
    writer = await make_key(client, tenant, "events:write")
    reader = await make_key(client, tenant, "read")
    for path in ("ltv", "repeat-purchases"):
        params = {"start": "2025-01-01", "end": "2025-02-01"}
        denied = await client.get(f"/v1/metrics/{path}", params=params, headers=bearer(writer))
        assert denied.status_code == 403
        allowed = await client.get(f"/v1/metrics/{path}", params=params, headers=bearer(reader))
        assert allowed.status_code == 200, allowed.text
