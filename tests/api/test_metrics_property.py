"""The set-based SQL equals the pure reference on random status-change histories.

Changes fall on a grid of instants that includes month, ISO-week and day boundaries, at the same
instant as each other (``seq``), before and after the queried range, and after ``as_of``; the
queries vary granularity, range, currency and ``as_of``, and every history is checked under
each plan filter. Each example writes a fresh tenant
inside a savepoint that is rolled back afterwards.
"""

import itertools
import uuid
from datetime import datetime, timedelta

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db import session_factory
from app.metrics import churn, queries
from tests.conftest import TenantInfo
from tests.metrics_helpers import Customer, at, store, timelines

ORIGIN = at(2025, 1, 1)
LATER = at(2030, 1, 1)  # after every change
MRRS = [0, 500, 1_000, 2_500]


def instant(day: int, noon: bool) -> datetime:
    return ORIGIN + timedelta(days=day, hours=12 if noon else 0)


@st.composite
def customer(draw: st.DrawFn, index: int) -> Customer:
    c = Customer(
        f"c{index}",
        currency=draw(st.sampled_from(["USD", "EUR", None])),
        plan=draw(st.sampled_from(["a", "b", None])),
    )
    day = draw(st.integers(-30, 90))
    for _ in range(draw(st.integers(0, 6))):
        day += draw(st.sampled_from([0, 0, 1, 3, 10, 31]))
        when = instant(day, draw(st.booleans()))
        if c.changes and when < c.changes[-1].effective_at:
            when = c.changes[-1].effective_at
        mrr = draw(st.sampled_from(MRRS))
        if c.status in ("lead", "cancelled"):
            c.start(when, mrr, plan=draw(st.sampled_from(["a", "b", None])))
        elif c.status == "paused":
            if draw(st.booleans()):
                c.resume(when, mrr)
            else:
                c.cancel(when, "unused")
        else:
            action = draw(st.sampled_from(["cancel", "pause", "change", "plan"]))
            if action == "cancel":
                c.cancel(when, draw(st.sampled_from(["too_expensive", "unused", None])))
            elif action == "pause":
                c.pause(when)
            elif action == "plan":
                c.change(when, mrr, plan="b" if c.plan == "a" else "a")
            else:
                c.change(when, mrr)
    return c


@st.composite
def histories(draw: st.DrawFn) -> list[Customer]:
    return [draw(customer(i)) for i in range(draw(st.integers(0, 10)))]


@st.composite
def ranges(draw: st.DrawFn) -> tuple[churn.Granularity, datetime, datetime]:
    granularity = draw(st.sampled_from(churn.GRANULARITIES))
    longest = {"day": 45, "week": 120, "month": 300, "quarter": 400}[granularity]
    start = instant(draw(st.integers(-20, 120)), draw(st.booleans()))
    return granularity, start, start + timedelta(days=draw(st.integers(1, longest)))


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    customers=histories(),
    window=ranges(),
    currency=st.sampled_from([None, None, "EUR"]),
    as_of_day=st.integers(0, 250),
)
async def test_sql_equals_the_reference(
    conn: AsyncConnection,
    customers: list[Customer],
    window: tuple[churn.Granularity, datetime, datetime],
    currency: str | None,
    as_of_day: int,
) -> None:
    granularity, start, end = window
    as_of = instant(as_of_day, False)
    history = timelines(customers)
    tenant_id = uuid.uuid4()
    savepoint = await conn.begin_nested()
    try:
        await conn.execute(
            text("INSERT INTO tenants (id, name) VALUES (:id, 'property')"), {"id": tenant_id}
        )
        await store(conn, tenant_id, *customers)
        async with session_factory(conn)() as session:
            # the inserts are the costly part: check every plan filter on each history
            for plan, known_at in itertools.product([None, "a", "b"], [as_of, LATER]):
                series = await queries.churn_series(
                    session,
                    tenant_id,
                    start=start,
                    end=end,
                    granularity=granularity,
                    as_of=known_at,
                    plan=plan,
                    currency=currency,
                )
                assert series == churn.churn_series(
                    history, start, end, granularity, as_of=known_at, plan=plan, currency=currency
                ), (plan, known_at)

            cohort_granularity: churn.CohortGranularity = (
                "week" if granularity == "day" else granularity
            )
            matrix = await queries.cohort_matrix(
                session,
                tenant_id,
                start=start,
                end=end,
                granularity=cohort_granularity,
                as_of=as_of,
                currency=currency,
            )
            assert matrix == churn.cohort_matrix(
                history, start, end, cohort_granularity, as_of=as_of, currency=currency
            )

            report = await queries.cancellation_report(
                session, tenant_id, start=start, end=end, as_of=as_of, currency=currency
            )
            assert report == churn.cancellation_report(
                history, start, end, as_of=as_of, currency=currency
            )

            current = await queries.current_state(
                session, tenant_id, as_of=as_of, currency=currency
            )
            assert current.state == churn.current_state(history, as_of=as_of, currency=currency)
    finally:
        await savepoint.rollback()


_any_instant = st.one_of(
    st.sampled_from(["2024-12-30", "2025-02-01T00:00:00Z", "2025-03-01T12:00:00+05:30"]),
    st.datetimes(timezones=st.timezones()).map(lambda t: t.isoformat()),
    st.datetimes().map(lambda t: t.isoformat()),  # no offset: refused
    st.dates().map(lambda d: d.isoformat()),
    st.text(max_size=30),
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    path=st.sampled_from(["churn", "cohorts", "cancellations", "summary"]),
    params=st.dictionaries(
        st.sampled_from(["start", "end", "as_of", "granularity", "plan", "currency"]),
        st.one_of(_any_instant, st.sampled_from(churn.GRANULARITIES), st.text(max_size=5)),
    ),
)
async def test_no_query_string_makes_a_metric_endpoint_fail(
    client: httpx.AsyncClient, tenant: TenantInfo, path: str, params: dict[str, str]
) -> None:
    response = await client.get(f"/v1/metrics/{path}", params=params, headers=tenant.headers)
    assert response.status_code in (200, 422), response.text
