"""The value metrics' SQL equals the pure reference (app.metrics.value) on random histories,
and so do the purchase rhythms of GET /v1/customers/{id} (app.customers.rhythm):
status changes as in test_metrics_property.py, plus purchases (several on one day, on midnight
and month boundaries, exactly N months after an activation, in two currencies, by customers
with and without a subscription). Each example writes a fresh tenant inside a savepoint that
is rolled back afterwards."""

import uuid
from datetime import timedelta

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.customers import repository as customer_repository
from app.customers import rhythm
from app.db import session_factory
from app.metrics import value, value_queries
from app.metrics.value import Purchase
from tests.api.test_metrics_property import histories, instant
from tests.conftest import TenantInfo
from tests.metrics_helpers import Customer, store, store_purchases, timelines


@st.composite
def purchases(draw: st.DrawFn, customers: list[Customer]) -> list[Purchase]:
    ids = [c.customer_id for c in customers] + ["lead0", "lead1", "lead2"]
    out: list[Purchase] = []
    for customer_id in ids:
        day = draw(st.integers(-40, 200))
        pace = draw(st.sampled_from([1, 7, 28, 31]))
        for _ in range(draw(st.integers(0, 8))):
            day += draw(st.sampled_from([0, pace, pace, 2 * pace, 90]))
            out.append(
                Purchase(
                    customer_id,
                    instant(day, draw(st.booleans())),
                    draw(st.sampled_from([0, 100, 2_500])),
                    draw(st.sampled_from(["USD", "USD", "EUR"])),
                )
            )
    # purchases on and around the horizon bounds of a first activation
    for c in customers:
        first = next((ch for ch in c.changes if ch.kind == "new"), None)
        if first is None or not draw(st.booleans()):
            continue
        for months in draw(st.lists(st.sampled_from(value.HORIZONS), max_size=3)):
            bound = value.add_months(first.effective_at, months)
            shift = draw(st.sampled_from([timedelta(0), -timedelta(days=1), -timedelta(hours=12)]))
            out.append(Purchase(c.customer_id, bound + shift, 1_000, "USD"))
    return out


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    data=st.data(),
    customers=histories(),
    start_day=st.integers(-40, 150),
    length=st.integers(1, 400),
    as_of_day=st.integers(0, 600),
    currency=st.sampled_from([None, None, "EUR"]),
)
async def test_sql_equals_the_reference(
    conn: AsyncConnection,
    data: st.DataObject,
    customers: list[Customer],
    start_day: int,
    length: int,
    as_of_day: int,
    currency: str | None,
) -> None:
    bought = data.draw(purchases(customers))
    start = instant(start_day, data.draw(st.booleans()))
    end = start + timedelta(days=length)
    as_of = instant(as_of_day, False)
    history = timelines(customers)
    tenant_id = uuid.uuid4()
    savepoint = await conn.begin_nested()
    try:
        await conn.execute(
            text("INSERT INTO tenants (id, name) VALUES (:id, 'property')"), {"id": tenant_id}
        )
        await store(conn, tenant_id, *customers)
        await store_purchases(conn, tenant_id, bought)
        async with session_factory(conn)() as session:
            for plan in (None, "a"):
                got = await value_queries.ltv(
                    session,
                    tenant_id,
                    start=start,
                    end=end,
                    as_of=as_of,
                    plan=plan,
                    currency=currency,
                )
                assert got == value.ltv(
                    history, start, end, as_of=as_of, plan=plan, currency=currency
                ), plan
                table = await value_queries.cohort_revenue(
                    session,
                    tenant_id,
                    start=start,
                    end=end,
                    as_of=as_of,
                    plan=plan,
                    currency=currency,
                )
                assert table == value.cohort_revenue(
                    history, bought, start, end, as_of=as_of, plan=plan, currency=currency
                ), plan

            repeat = await value_queries.repeat_purchases(
                session, tenant_id, start=start, end=end, as_of=as_of, currency=currency
            )
            assert repeat == value.repeat_purchases(
                bought, start, end, as_of=as_of, currency=currency
            )

            # the customer endpoint's rhythm
            days = {
                c: rhythm.purchase_days(p.occurred_at for p in bought if p.customer_id == c)
                for c in {p.customer_id for p in bought}
            }
            for customer_id, customer_days in days.items():
                facts = await customer_repository.purchase_facts(session, tenant_id, customer_id)
                assert facts.purchase_days == len(customer_days)
                assert facts.median_interval_days == rhythm.median_interval(customer_days)
                assert facts.last_purchase_at == max(
                    p.occurred_at for p in bought if p.customer_id == customer_id
                )
            assert await customer_repository.tenant_median_interval(
                session, tenant_id
            ) == rhythm.tenant_median_interval(days.values())
    finally:
        await savepoint.rollback()


_instants = st.one_of(
    st.sampled_from(["2024-12-30", "2025-02-01T00:00:00Z", "2025-03-01T12:00:00+05:30"]),
    st.datetimes(timezones=st.timezones()).map(lambda t: t.isoformat()),
    st.datetimes().map(lambda t: t.isoformat()),
    st.dates().map(lambda d: d.isoformat()),
    st.text(max_size=30),
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    path=st.sampled_from(["ltv", "repeat-purchases"]),
    params=st.dictionaries(
        st.sampled_from(["start", "end", "as_of", "plan", "currency"]),
        st.one_of(_instants, st.sampled_from(["USD", "EUR", "pro"]), st.text(max_size=5)),
    ),
)
async def test_no_query_string_makes_a_value_metric_fail(
    client: httpx.AsyncClient, tenant: TenantInfo, path: str, params: dict[str, str]
) -> None:
    response = await client.get(f"/v1/metrics/{path}", params=params, headers=tenant.headers)
    assert response.status_code in (200, 422), response.text
