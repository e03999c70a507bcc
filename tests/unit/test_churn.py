"""The pure churn definitions on hand-built histories, with hand-computed expectations."""

from datetime import UTC, datetime, timedelta, timezone
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.metrics import churn
from app.metrics.churn import Period, PeriodCounts
from tests.metrics_helpers import Customer, at, timelines

MARCH = Period(at(2025, 3), at(2025, 4))
LATER = at(2030, 1)


def march(*customers: Customer, plan: str | None = None, as_of: datetime = LATER) -> PeriodCounts:
    known = churn.known_timelines(timelines(customers), as_of)
    return churn.period_counts(known, MARCH, plan)


# -- periods -----------------------------------------------------------------------------------


def test_month_periods_are_calendar_months_covering_the_range() -> None:
    got = churn.periods(at(2024, 1, 15), at(2024, 3, 1), "month")
    assert got == [Period(at(2024, 1), at(2024, 2)), Period(at(2024, 2), at(2024, 3))]
    # one microsecond past a boundary reaches into the next month
    longer = churn.periods(at(2024, 1, 15), at(2024, 3, 1) + timedelta(microseconds=1), "month")
    assert longer[-1] == Period(at(2024, 3), at(2024, 4))


def test_weeks_start_on_monday_and_quarters_in_january_april_july_october() -> None:
    # 2025-01-01 is a Wednesday
    weeks = churn.periods(at(2025, 1, 1), at(2025, 1, 7), "week")
    assert weeks == [
        Period(at(2024, 12, 30), at(2025, 1, 6)),
        Period(at(2025, 1, 6), at(2025, 1, 13)),
    ]
    quarters = churn.periods(at(2024, 11, 20), at(2025, 5, 1), "quarter")
    assert [q.start for q in quarters] == [at(2024, 10), at(2025, 1), at(2025, 4)]
    assert quarters[-1].end == at(2025, 7)


def test_periods_are_utc_whatever_offset_the_bounds_carry() -> None:
    paris = timezone(timedelta(hours=2))
    # 00:30 on 1 March in UTC+2 is still 28 February in UTC
    start = datetime(2025, 3, 1, 0, 30, tzinfo=paris)
    assert churn.periods(start, at(2025, 3, 2), "month")[0].start == at(2025, 2)
    assert churn.periods(start, at(2025, 3, 2), "day")[0] == Period(at(2025, 2, 28), at(2025, 3))


_instants = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2060, 1, 1), timezones=st.just(UTC)
)


@given(
    start=_instants,
    length=st.timedeltas(min_value=timedelta(microseconds=1), max_value=timedelta(days=800)),
    granularity=st.sampled_from(churn.GRANULARITIES),
)
def test_period_count_and_grid_end_agree_with_the_periods(
    start: datetime, length: timedelta, granularity: churn.Granularity
) -> None:
    end = start + length
    got = churn.periods(start, end, granularity)
    assert churn.period_count(start, end, granularity) == len(got)
    assert got[0].start <= start < got[0].end
    assert got[-1].start < end <= got[-1].end
    assert all(a.end == b.start for a, b in pairwise(got))
    assert churn.grid_end(end, granularity) == got[-1].end


def test_last_full_month() -> None:
    assert churn.last_full_month(at(2025, 3, 15, 10)) == Period(at(2025, 2), at(2025, 3))
    assert churn.last_full_month(at(2025, 1, 1)) == Period(at(2024, 12), at(2025, 1))


# -- the churn definitions ---------------------------------------------------------------------


def test_worked_example_120_at_start_30_lost_is_25_percent() -> None:
    customers = [Customer(f"c{i}").start(at(2025, 1, 10), 1_000) for i in range(120)]
    for c in customers[:30]:
        c.cancel(at(2025, 3, 20))
    got = march(*customers)
    assert got.customers_at_start == 120
    assert got.churned == 30
    assert got.churn_rate == 25.0
    assert got.customers_at_end == 90
    assert got.mrr_at_start == 120_000
    assert got.mrr_churned == 30_000
    assert got.revenue_churn_rate == 25.0
    assert got.net_revenue_retention == 75.0


def test_a_change_on_a_boundary_belongs_to_the_period_starting_there() -> None:
    leaves_at_start = Customer("a").start(at(2025, 1), 1_000).cancel(at(2025, 3))
    leaves_at_end = Customer("b").start(at(2025, 1), 1_000).cancel(at(2025, 4))
    joins_at_start = Customer("c").start(at(2025, 3), 500)
    joins_at_end = Customer("d").start(at(2025, 4), 500)
    got = march(leaves_at_start, leaves_at_end, joins_at_start, joins_at_end)
    assert got.customers_at_start == 2  # a's cancellation on 1 March is not before 1 March
    assert got.churned == 1  # a, in March; b's cancellation on 1 April belongs to April
    assert got.new == 1  # c; d's start on 1 April belongs to April
    assert got.customers_at_end == 2  # b (cancels at the next boundary) and c


def test_start_and_cancel_inside_the_period_is_not_in_the_denominator() -> None:
    kept = Customer("kept").start(at(2025, 1), 1_000)
    brief = Customer("brief").start(at(2025, 3, 5), 2_000).cancel(at(2025, 3, 25))
    got = march(kept, brief)
    assert (got.customers_at_start, got.churned, got.churn_rate) == (1, 0, 0.0)
    assert got.new == 1
    assert got.mrr_new == 0  # gone by the end
    assert got.customers_at_end == 1


def test_cancel_and_return_inside_the_period_is_not_churn() -> None:
    back = (
        Customer("back").start(at(2025, 1), 1_000).cancel(at(2025, 3, 5)).start(at(2025, 3, 9), 800)
    )
    got = march(back)
    assert got.churned == 0
    assert got.reactivated == 1
    assert got.new == 0
    assert got.mrr_contraction == 200  # came back cheaper
    assert got.net_revenue_retention == 80.0


def test_downgrades_are_contraction_and_upgrades_expansion() -> None:
    down = Customer("down").start(at(2025, 1), 10_000).change(at(2025, 3, 10), 6_000, "basic")
    up = Customer("up").start(at(2025, 1), 5_000).change(at(2025, 3, 11), 8_000)
    both = Customer("both").start(at(2025, 1), 5_000)
    both.change(at(2025, 3, 2), 9_000).change(at(2025, 3, 3), 4_000)
    got = march(down, up, both)
    assert got.churned == 0
    assert got.mrr_at_start == 20_000
    assert got.mrr_contraction == 4_000 + 1_000  # only start vs end counts for "both"
    assert got.mrr_expansion == 3_000
    assert got.mrr_at_end == 18_000
    assert got.revenue_churn_rate == 25.0  # (0 + 5000) / 20000
    assert got.net_revenue_retention == 90.0


def test_a_pause_is_not_churn_but_its_mrr_counts_as_zero() -> None:
    paused = Customer("paused").start(at(2025, 1), 4_000).pause(at(2025, 3, 15))
    resumed = Customer("resumed").start(at(2025, 1), 1_000).pause(at(2025, 2, 10))
    resumed.resume(at(2025, 3, 20), 1_000)
    got = march(paused, resumed)
    assert got.customers_at_start == 2  # paused customers are still subscribers
    assert got.churned == 0
    assert got.paused == 1
    assert got.mrr_at_start == 4_000  # "resumed" was paused at start: 0
    assert got.mrr_contraction == 4_000
    assert got.mrr_expansion == 1_000
    assert got.revenue_churn_rate == 100.0
    assert got.net_revenue_retention == 25.0


def test_cancelling_while_paused_is_churn_that_loses_no_mrr() -> None:
    c = Customer("c").start(at(2025, 1), 3_000).pause(at(2025, 2)).cancel(at(2025, 3, 3))
    got = march(c)
    assert (got.churned, got.mrr_churned, got.churn_rate, got.revenue_churn_rate) == (
        1,
        0,
        100.0,
        None,
    )


def test_scheduled_cancellation_counts_when_it_takes_effect() -> None:
    # requested in March, effective at the end of April
    c = Customer("c").start(at(2025, 1), 1_000).cancel(at(2025, 4, 30))
    assert march(c, as_of=at(2025, 3, 31)).churned == 0
    april = Period(at(2025, 4), at(2025, 5))
    before = churn.known_timelines(timelines([c]), at(2025, 4, 15))
    assert churn.period_counts(before, april).churned == 0  # not known yet: future-dated
    after = churn.known_timelines(timelines([c]), at(2025, 5, 2))
    assert churn.period_counts(after, april).churned == 1


def test_an_empty_period_has_zeros_and_no_rates() -> None:
    got = march()
    assert got == PeriodCounts(MARCH.start, MARCH.end)
    assert (got.churn_rate, got.revenue_churn_rate, got.net_revenue_retention) == (
        None,
        None,
        None,
    )


def test_plan_filter_uses_the_plan_at_period_start() -> None:
    pro_leaves = Customer("a").start(at(2025, 1), 5_000, plan="pro").cancel(at(2025, 3, 9))
    pro_downgrades = Customer("b").start(at(2025, 1), 5_000, plan="pro")
    pro_downgrades.change(at(2025, 3, 10), 1_000, plan="basic")
    basic_stays = Customer("c").start(at(2025, 1), 1_000, plan="basic")
    new_pro = Customer("d").start(at(2025, 3, 5), 5_000, plan="pro")
    got = march(pro_leaves, pro_downgrades, basic_stays, new_pro, plan="pro")
    assert got.customers_at_start == 2
    assert got.churned == 1
    assert got.mrr_contraction == 4_000
    assert got.new == 0  # d had no plan at the start of March
    assert got.customers_at_end == 1
    assert march(pro_leaves, pro_downgrades, basic_stays, plan="basic").customers_at_start == 1


# -- currency ----------------------------------------------------------------------------------


def test_default_currency_is_the_one_most_paying_customers_have() -> None:
    eur = [Customer(f"e{i}", currency="EUR").start(at(2025, 1), 100) for i in range(2)]
    gbp_free = [Customer(f"g{i}", currency="GBP").start(at(2025, 1), 0) for i in range(3)]
    usd = Customer("u", currency="USD").start(at(2025, 1), 100)
    unknown = Customer("n", currency=None).start(at(2025, 1), 100)
    got = churn.select_currency(timelines([*eur, *gbp_free, usd, unknown]), None)
    assert got.currency == "EUR"  # GBP customers have no MRR
    assert got.other_currencies == ["GBP", "USD"]
    assert set(got.members) == {"e0", "e1", "n"}  # no currency counts as the selected one
    assert churn.select_currency(timelines([usd, *eur[:1]]), None).currency == "EUR"  # a tie
    assert churn.select_currency(timelines([unknown]), None).currency == "USD"
    assert churn.select_currency({}, "JPY").members == {}


def test_a_customer_currency_is_its_latest_named_one() -> None:
    c = Customer("c", currency="EUR").start(at(2025, 1), 100)
    c.currency = "USD"
    c.change(at(2025, 2), 200)
    c.currency = None
    c.change(at(2025, 3), 300)
    assert churn.customer_currency(c.changes) == "USD"


def test_churn_series_leaves_other_currencies_out() -> None:
    usd = [Customer(f"u{i}").start(at(2025, 1), 1_000) for i in range(3)]
    eur = Customer("e", currency="EUR").start(at(2025, 1), 9_000).cancel(at(2025, 3, 2))
    usd[0].cancel(at(2025, 3, 3))
    series = churn.churn_series(
        timelines([*usd, eur]), MARCH.start, MARCH.end, "month", as_of=LATER
    )
    assert (series.currency, series.other_currencies) == ("USD", ["EUR"])
    assert (series.periods[0].customers_at_start, series.periods[0].churned) == (3, 1)
    in_eur = churn.churn_series(
        timelines([*usd, eur]), MARCH.start, MARCH.end, "month", as_of=LATER, currency="EUR"
    )
    assert (in_eur.periods[0].customers_at_start, in_eur.periods[0].mrr_churned) == (1, 9_000)


# -- cohorts, cancellations, current state -----------------------------------------------------


def test_cohort_matrix_by_hand() -> None:
    a = Customer("a").start(at(2025, 1, 5), 1_000).change(at(2025, 2, 10), 1_500)
    b = Customer("b").start(at(2025, 1, 20), 1_000).cancel(at(2025, 3, 1))
    c = Customer("c").start(at(2025, 2, 3), 2_000).pause(at(2025, 2, 4))
    matrix = churn.cohort_matrix(
        timelines([a, b, c]), at(2025, 1), at(2025, 4), "month", as_of=at(2025, 3, 15)
    )
    assert [row.start for row in matrix.cohorts] == [at(2025, 1), at(2025, 2), at(2025, 3)]
    jan, feb, mar = matrix.cohorts
    assert (jan.customers, jan.starting_mrr) == (2, 2_000)
    assert [(cell.index, cell.active, cell.mrr) for cell in jan.cells] == [
        (0, 2, 2_000),
        (1, 2, 2_500),  # a upgraded; b still active at the end of February
        (2, 1, 1_500),  # b cancelled on 1 March; March is the current period (as_of)
    ]
    assert [jan.customer_retention(cell) for cell in jan.cells] == [100.0, 100.0, 50.0]
    assert [jan.revenue_retention(cell) for cell in jan.cells] == [100.0, 125.0, 75.0]
    assert (feb.customers, feb.starting_mrr) == (1, 2_000)
    assert [(cell.active, cell.mrr) for cell in feb.cells] == [(1, 0), (1, 0)]  # paused
    assert feb.revenue_retention(feb.cells[0]) == 0.0
    assert (mar.customers, mar.customer_retention(mar.cells[0])) == (0, None)
    # periods not begun by as_of are not cohorts
    begun = churn.cohort_matrix(
        timelines([a]), at(2025, 1), at(2026, 1), "month", as_of=at(2025, 2, 1)
    )
    assert len(begun.cohorts) == 2


def test_cancellation_report_groups_by_reason() -> None:
    cs = [
        Customer("a").start(at(2025, 1), 1_000).cancel(at(2025, 3, 2), "too_expensive"),
        Customer("b").start(at(2025, 1), 3_000).cancel(at(2025, 3, 3), "too_expensive"),
        Customer("c").start(at(2025, 1), 500).cancel(at(2025, 3, 4), "unused"),
        Customer("d").start(at(2025, 1), 700).cancel(at(2025, 3, 5)),
        Customer("e").start(at(2025, 1), 700).cancel(at(2025, 4, 5), "unused"),  # April
    ]
    report = churn.cancellation_report(timelines(cs), MARCH.start, MARCH.end, as_of=LATER)
    assert [(r.reason, r.cancellations, r.mrr_lost) for r in report.by_reason] == [
        ("too_expensive", 2, 4_000),
        ("unused", 1, 500),
        (None, 1, 700),
    ]
    assert (report.cancellations, report.mrr_lost) == (4, 5_200)


def test_current_state_uses_each_customers_latest_known_change() -> None:
    cs = [
        Customer("a").start(at(2025, 1), 1_000),
        Customer("b").start(at(2025, 1), 2_000).pause(at(2025, 2)),
        Customer("c").start(at(2025, 1), 3_000).cancel(at(2025, 2)),
        Customer("d").start(at(2025, 1), 4_000).cancel(at(2025, 6)),  # scheduled
    ]
    state = churn.current_state(timelines(cs), as_of=at(2025, 3))
    assert (state.active, state.paused, state.cancelled, state.mrr) == (2, 1, 1, 5_000)


# -- shared helpers ----------------------------------------------------------------------------


def test_percentage_and_benchmark_bands() -> None:
    assert churn.percentage(1, 3) == 100 / 3  # full precision, no rounding
    assert churn.percentage(11_000, 20_000) == 55.0  # not 55.00000000000001
    assert churn.percentage(0, 0) is None
    assert churn.benchmark(None) is None
    assert churn.benchmark(4.999) == "healthy"
    assert churn.benchmark(5.0) == "watch"
    assert churn.benchmark(10.0) == "watch"
    assert churn.benchmark(10.01) == "needs_attention"


@pytest.mark.parametrize(
    ("state", "active", "mrr"),
    [
        (None, False, 0),
        (Customer("x").start(at(2025, 1), 700).changes[-1], True, 700),
        (Customer("x").start(at(2025, 1), 700).pause(at(2025, 2)).changes[-1], True, 0),
        (Customer("x").start(at(2025, 1), 700).cancel(at(2025, 2)).changes[-1], False, 0),
    ],
)
def test_activity_and_mrr_of_a_state(state: churn.Change | None, active: bool, mrr: int) -> None:
    assert churn.is_active(state) is active
    assert churn.mrr_of(state) == mrr


def test_the_extended_worked_example_of_the_docs() -> None:
    customers = [Customer(f"c{i}").start(at(2025, 1, 10), 1_000) for i in range(120)]
    for c in customers[:30]:
        c.cancel(at(2025, 3, 20))
    customers[30].change(at(2025, 3, 12), 400)
    customers.append(Customer("brief").start(at(2025, 3, 10), 5_000).cancel(at(2025, 3, 20)))
    got = march(*customers)
    assert (got.customers_at_start, got.churned, got.churn_rate) == (120, 30, 25.0)
    assert got.mrr_contraction == 600
    assert got.revenue_churn_rate == 25.5
    assert got.net_revenue_retention == 74.5
