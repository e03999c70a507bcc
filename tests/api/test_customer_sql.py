"""The SQL forms of fold.py's rules agree with fold.py: the projected status of a stored row, and
the counters merged set-based by ingest (``fold.totals_of`` is the reference)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.customers import repository
from app.customers.fold import LIFECYCLE_TYPES, FoldEvent, Lifecycle, Totals, project, totals_of
from app.customers.sql import LIFECYCLE_TYPES_SQL, projected_status
from app.db import session_factory
from app.models import EVENT_TYPES
from tests.conftest import TenantInfo

T0 = datetime(2026, 3, 1, tzinfo=UTC)
HOURS = st.integers(min_value=-48, max_value=48)


def test_lifecycle_types_in_sql_are_folds() -> None:
    assert "(" + ", ".join(f"'{t}'" for t in sorted(LIFECYCLE_TYPES)) + ")" == LIFECYCLE_TYPES_SQL
    assert set(LIFECYCLE_TYPES) < set(EVENT_TYPES)


def test_counters_cover_the_totals_of_the_fold() -> None:
    # Revenue is per currency, in its own table; every other total is a column.
    totals = {name for name in Totals.__dataclass_fields__ if name != "revenue"}
    assert set(repository.COUNTERS) == totals


@st.composite
def stored_states(draw: st.DrawFn) -> Lifecycle:
    status = draw(st.sampled_from(["lead", "active", "paused", "cancelled"]))
    maybe_at = st.one_of(st.none(), HOURS.map(lambda h: T0 + timedelta(hours=h)))
    state = Lifecycle(status=status, plan="p", plan_mrr=draw(st.sampled_from([0, 900])))
    if status in ("active", "paused"):
        state.cancel_effective_at = draw(maybe_at)
    if status == "paused":
        state.paused_at = T0 - timedelta(days=5)
        state.paused_until = draw(maybe_at)
    return state


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(states=st.lists(stored_states(), min_size=1, max_size=12), hours=HOURS)
async def test_projected_status_in_sql_is_fold_project(
    conn: AsyncConnection, states: list[Lifecycle], hours: int
) -> None:
    now = T0 + timedelta(hours=hours)
    rows = await conn.execute(
        text(f"""
            SELECT i, {projected_status("c", ":now")} AS status
            FROM unnest(CAST(:status AS text[]), CAST(:cancel AS timestamptz[]),
                        CAST(:until AS timestamptz[]))
                 WITH ORDINALITY AS c(status, cancel_effective_at, paused_until, i)
            ORDER BY i
        """),
        {
            "now": now,
            "status": [s.status for s in states],
            "cancel": [s.cancel_effective_at for s in states],
            "until": [s.paused_until for s in states],
        },
    )
    assert [r.status for r in rows] == [project(s, now).status for s in states]


KINDS = ["usage", "purchase", "payment_failed", "feedback", "pause"]


@st.composite
def batches(draw: st.DrawFn) -> list[list[tuple[str, FoldEvent]]]:
    out = []
    n = 0
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        batch = []
        for _ in range(draw(st.integers(min_value=1, max_value=8))):
            kind = draw(st.sampled_from(KINDS))
            extra: dict[str, Any] = {}
            if kind == "usage":
                extra["quantity"] = draw(st.sampled_from([None, 1, 7]))
            elif kind in ("purchase", "payment_failed"):
                extra["amount"] = draw(st.sampled_from([None, 100, 2500]))
                extra["currency"] = draw(st.sampled_from(["USD", "EUR"]))
            n += 1
            batch.append(
                (
                    draw(st.sampled_from(["a", "b", "c"])),
                    FoldEvent(
                        id=uuid.uuid4(),
                        key=f"k{n}",
                        type=kind,
                        occurred_at=T0 + timedelta(hours=draw(HOURS)),
                        **extra,
                    ),
                )
            )
        out.append(batch)
    return out


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(plan=batches())
async def test_counters_merged_in_sql_equal_the_folds_totals(
    conn: AsyncConnection, tenant: TenantInfo, plan: list[list[tuple[str, FoldEvent]]]
) -> None:
    savepoint = await conn.begin_nested()
    try:
        async with session_factory(conn)() as session, session.begin():
            for batch in plan:
                await repository.apply_counters(session, tenant.id, batch, T0)
            stored = await repository.lock_customers(session, tenant.id, ["a", "b", "c"])
            revenue = {
                cid: await repository.revenue(session, tenant.id, cid) for cid in ("a", "b", "c")
            }
        events = [pair for batch in plan for pair in batch]
        for customer_id in sorted({cid for cid, _ in events}):
            expected = totals_of(e for cid, e in events if cid == customer_id)
            row = stored[customer_id]
            assert {name: row[name] for name in repository.COUNTERS} == {
                name: getattr(expected, name) for name in repository.COUNTERS
            }
            assert {cur: amount for cur, (amount, _) in revenue[customer_id].items()} == (
                expected.revenue
            )
    finally:
        await savepoint.rollback()
