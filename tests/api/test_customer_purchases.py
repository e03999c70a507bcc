"""GET /v1/customers/{id}: lifetime revenue and the purchase rhythm (purchase days, median
interval, expected next purchase), hand-computed."""

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.customers.service import refresh_tenant_rhythm
from app.db import session_factory
from tests.conftest import TenantInfo
from tests.factories import event, post_batch, purchase, subscribe


async def customer(client: httpx.AsyncClient, tenant: TenantInfo, customer_id: str) -> Any:
    response = await client.get(f"/v1/customers/{customer_id}", headers=tenant.headers)
    assert response.status_code == 200, response.text
    return response.json()


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# Repeat buyers' own median intervals: x 10 (2, 12, 22 March; two purchases on the 2nd),
# y 13 (20 February, 5 March), z 14.5 (gaps 3 and 26), v 3 (euros). The tenant's median
# across them: (10 + 13) / 2 = 11.5.
HISTORY = [
    purchase("x", "2025-03-02T10:00:00Z", amount=1000),
    purchase("x", "2025-03-02T18:00:00Z", amount=1000),
    purchase("x", "2025-03-12T10:00:00Z", amount=1000),
    purchase("x", "2025-03-22T10:00:00Z", amount=1500),
    purchase("y", "2025-02-20T10:00:00Z", amount=1000),
    purchase("y", "2025-03-05T10:00:00Z", amount=1000),
    purchase("z", "2025-03-01T00:00:00Z", amount=1000),
    purchase("z", "2025-03-04T10:00:00Z", amount=1000),
    purchase("z", "2025-03-30T10:00:00Z", amount=1000),
    purchase("v", "2025-03-03T10:00:00Z", amount=700, currency="EUR"),
    purchase("v", "2025-03-06T10:00:00Z", amount=700, currency="EUR"),
    # w: three purchases on one day make a one-time buyer
    purchase("w", "2025-03-10T08:00:00Z", amount=500),
    purchase("w", "2025-03-10T16:00:00Z", amount=500),
    purchase("w", "2025-03-10T12:00:00Z", amount=500),
    # n: never bought; m: bought in two currencies
    event("usage", "n", "2025-03-01T00:00:00Z"),
    purchase("m", "2025-03-01T00:00:00Z", amount=100),
    purchase("m", "2025-03-01T05:00:00Z", amount=200, currency="EUR"),
]


async def test_repeat_buyer_uses_its_own_median_interval(
    client: httpx.AsyncClient, tenant: TenantInfo
) -> None:
    await post_batch(client, tenant.headers, HISTORY)
    x = await customer(client, tenant, "x")
    assert (x["lifetime_revenue"], x["lifetime_revenue_currency"]) == (4500, "USD")
    assert x["revenue"] == [
        {"currency": "USD", "amount": 4500, "purchases": x["counters"]["purchases"]}
    ]
    assert (x["purchase_days"], x["counters"]["purchases"]) == (3, 4)
    assert x["median_purchase_interval_days"] == 10.0
    assert parse(x["expected_next_purchase_at"]) == parse("2025-04-01T10:00:00Z")
    assert x["expected_next_purchase_basis"] == "customer"

    z = await customer(client, tenant, "z")
    assert z["median_purchase_interval_days"] == 14.5
    assert parse(z["expected_next_purchase_at"]) == parse("2025-03-30T10:00:00Z") + timedelta(
        days=14.5
    )
    v = await customer(client, tenant, "v")
    assert (v["lifetime_revenue"], v["lifetime_revenue_currency"]) == (1400, "EUR")


async def test_one_time_buyer_falls_back_to_the_tenant_median(
    client: httpx.AsyncClient, tenant: TenantInfo
) -> None:
    await post_batch(client, tenant.headers, HISTORY)
    w = await customer(client, tenant, "w")
    assert (w["purchase_days"], w["counters"]["purchases"], w["lifetime_revenue"]) == (1, 3, 1500)
    assert w["median_purchase_interval_days"] is None
    # median of x 10, y 13, z 14.5, v 3 -> (10 + 13) / 2, after the day's last purchase
    assert parse(w["expected_next_purchase_at"]) == parse("2025-03-10T16:00:00Z") + timedelta(
        days=11.5
    )
    assert w["expected_next_purchase_basis"] == "tenant"


async def test_nothing_is_expected_without_purchases_or_rhythm(
    client: httpx.AsyncClient, tenant: TenantInfo
) -> None:
    await post_batch(client, tenant.headers, HISTORY)
    n = await customer(client, tenant, "n")
    assert (n["lifetime_revenue"], n["lifetime_revenue_currency"], n["purchase_days"]) == (
        0,
        None,
        0,
    )
    assert n["median_purchase_interval_days"] is None
    assert (n["expected_next_purchase_at"], n["expected_next_purchase_basis"]) == (None, None)

    m = await customer(client, tenant, "m")
    # paid in two currencies: never added up
    assert (m["lifetime_revenue"], m["lifetime_revenue_currency"]) == (None, None)
    assert [(r["currency"], r["amount"]) for r in m["revenue"]] == [("EUR", 200), ("USD", 100)]
    assert m["purchase_days"] == 1


async def test_one_time_buyer_of_a_tenant_without_repeat_buyers(
    client: httpx.AsyncClient, tenant: TenantInfo, other_tenant: TenantInfo
) -> None:
    # the other tenant's repeat buyers do not count
    await post_batch(client, other_tenant.headers, HISTORY)
    await post_batch(client, tenant.headers, [subscribe("s", "2025-03-01T00:00:00Z")])
    s = await customer(client, tenant, "s")
    assert (s["purchase_days"], s["expected_next_purchase_at"]) == (1, None)
    assert s["lifetime_revenue"] == 4900


async def test_several_purchases_on_one_day_are_one_purchase_day(
    client: httpx.AsyncClient, tenant: TenantInfo
) -> None:
    # 23:30 and 00:30 UTC are different days; 00:30 and 23:00 the same
    await post_batch(
        client,
        tenant.headers,
        [
            purchase("d", "2025-05-01T23:30:00Z"),
            purchase("d", "2025-05-02T00:30:00Z"),
            purchase("d", "2025-05-02T23:00:00Z"),
            purchase("d", "2025-05-09T12:00:00Z"),
        ],
    )
    d = await customer(client, tenant, "d")
    assert d["purchase_days"] == 3
    assert d["median_purchase_interval_days"] == 4.0  # gaps 1 and 7
    assert parse(d["expected_next_purchase_at"]) == parse("2025-05-13T12:00:00Z")


async def test_the_tenant_median_is_read_as_the_periodic_job_stored_it(
    client: httpx.AsyncClient, conn: AsyncConnection, tenant: TenantInfo
) -> None:
    await post_batch(client, tenant.headers, HISTORY)
    async with session_factory(conn)() as session, session.begin():
        await refresh_tenant_rhythm(session, tenant.id, datetime.now(UTC))
    stored = (
        await conn.execute(
            text(
                "SELECT median_interval_days, repeat_buyers FROM tenant_purchase_rhythms"
                " WHERE tenant_id = :t"
            ),
            {"t": tenant.id},
        )
    ).one()
    assert tuple(stored) == (11.5, 4)
    # a new repeat buyer every 2 days would move the median to 10; reads keep the stored
    # value until the next run
    await post_batch(
        client,
        tenant.headers,
        [purchase("fast", f"2025-03-0{d}T10:00:00Z") for d in (1, 3, 5)],
    )
    w = await customer(client, tenant, "w")
    assert parse(w["expected_next_purchase_at"]) == parse("2025-03-10T16:00:00Z") + timedelta(
        days=11.5
    )
    async with session_factory(conn)() as session, session.begin():
        await refresh_tenant_rhythm(session, tenant.id, datetime.now(UTC))
    w = await customer(client, tenant, "w")
    assert parse(w["expected_next_purchase_at"]) == parse("2025-03-10T16:00:00Z") + timedelta(
        days=10
    )
