"""The pure definitions of purchase rhythm (app.customers.rhythm), customer value and repeat
purchases (app.metrics.value), and the signal settings (app.signals.settings), on small
hand-computed cases."""

from datetime import UTC, date, datetime, timedelta

import pytest
from pydantic import ValidationError

from app.customers import rhythm
from app.metrics import value
from app.metrics.churn import PeriodCounts
from app.metrics.value import Purchase
from app.signals.settings import SignalSettings
from tests.metrics_helpers import Customer, at, timelines


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# -- rhythm ------------------------------------------------------------------------------------


def test_purchase_days_are_distinct_utc_dates() -> None:
    plus_two = datetime.fromisoformat("2025-03-02T01:00:00+02:00")  # 1 March 23:00 UTC
    times = [utc(2025, 3, 1, 9), plus_two, utc(2025, 3, 2, 0, 30), utc(2025, 3, 2, 23)]
    assert rhythm.purchase_days(times) == [date(2025, 3, 1), date(2025, 3, 2)]
    assert rhythm.purchase_days([]) == []


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        ([], None),
        ([date(2025, 1, 1)], None),
        ([date(2025, 1, 1), date(2025, 1, 11)], 10.0),
        ([date(2025, 1, 1), date(2025, 1, 4), date(2025, 1, 30)], 14.5),  # gaps 3, 26
        ([date(2025, 1, d) for d in (1, 2, 3, 13, 23)], 5.5),  # gaps 1 1 10 10
    ],
)
def test_median_interval(days: list[date], expected: float | None) -> None:
    assert rhythm.median_interval(days) == expected


def test_tenant_median_counts_each_repeat_buyer_once() -> None:
    frequent = [date(2025, 1, d) for d in range(1, 21)]  # 19 gaps of 1 day
    assert rhythm.median_interval(frequent) == 1.0
    others = [[date(2025, 1, 1), date(2025, 1, 31)], [date(2025, 2, 1), date(2025, 3, 3)]]
    one_time = [[date(2025, 1, 5)]]
    # medians 1, 30, 30 -> 30 (pooling the gaps would give 1)
    assert rhythm.tenant_median_interval([frequent, *others, *one_time]) == 30.0
    assert rhythm.tenant_median_interval(one_time) is None


def test_expected_next_purchase() -> None:
    last = utc(2025, 3, 10, 16)
    own = rhythm.rhythm(3, 10.0, last, 99.0)
    assert (own.expected_next_purchase_at, own.interval_source) == (
        last + timedelta(days=10),
        "customer",
    )
    once = rhythm.rhythm(1, None, last, 11.5)
    assert (once.expected_next_purchase_at, once.interval_source) == (
        last + timedelta(days=11.5),
        "tenant",
    )
    assert rhythm.rhythm(1, None, last, None).expected_next_purchase_at is None
    nothing = rhythm.rhythm(0, None, None, 11.5)
    assert (nothing.expected_next_purchase_at, nothing.interval_source) == (None, None)


# -- lifetime value ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (utc(2025, 1, 31, 12), 1, utc(2025, 2, 28, 12)),
        (utc(2024, 1, 31), 1, utc(2024, 2, 29)),
        (utc(2025, 3, 31), 3, utc(2025, 6, 30)),
        (utc(2025, 11, 15), 3, utc(2026, 2, 15)),
        (utc(2025, 5, 31), -3, utc(2025, 2, 28)),
        (datetime.fromisoformat("2025-01-31T23:30:00-02:00"), 1, utc(2025, 3, 1, 1, 30)),
    ],
)
def test_add_months_clamps_the_day(start: datetime, months: int, expected: datetime) -> None:
    assert value.add_months(start, months) == expected


def test_complete_months_are_the_ones_ended_by_as_of() -> None:
    got = value.complete_months(utc(2025, 1, 15), utc(2025, 5, 2), utc(2025, 4, 1))
    assert [(p.start.month, p.end.month) for p in got] == [(1, 2), (2, 3), (3, 4)]
    assert value.complete_months(utc(2025, 1, 1), utc(2025, 2, 1), utc(2025, 1, 31)) == []


def _month(customers: int, mrr: int, churned: int) -> PeriodCounts:
    return PeriodCounts(
        utc(2025, 1, 1), utc(2025, 2, 1), customers_at_start=customers, mrr_at_start=mrr,
        churned=churned,
    )  # fmt: skip


def test_ltv_is_arpa_over_the_monthly_churn_rate() -> None:
    figures = value.Ltv("USD", [], [_month(3, 6000, 0), _month(5, 7000, 1), _month(4, 4000, 0)])
    assert (figures.customer_months, figures.mrr_months, figures.churned) == (12, 17000, 1)
    assert figures.arpa == 17000 / 12
    assert figures.monthly_churn_rate == 100 / 12
    assert figures.ltv == 17000.0
    assert figures.ltv == pytest.approx(figures.arpa / (figures.monthly_churn_rate / 100))
    quiet = value.Ltv("USD", [], [_month(4, 4000, 0)])
    assert (quiet.arpa, quiet.monthly_churn_rate, quiet.ltv) == (1000.0, 0.0, None)
    empty = value.Ltv("USD", [], [])
    assert (empty.arpa, empty.monthly_churn_rate, empty.ltv) == (None, None, None)


def test_ltv_from_timelines_counts_complete_months_only() -> None:
    history = timelines(
        [
            Customer("a").start(at(2024, 12), 1_000),
            Customer("b").start(at(2024, 12), 3_000).cancel(at(2025, 2, 10)),
        ]
    )
    got = value.ltv(history, at(2025, 1), at(2025, 4), as_of=at(2025, 3, 15))
    assert [m.start.month for m in got.months] == [1, 2]
    assert (got.customer_months, got.mrr_months, got.churned) == (4, 8_000, 1)
    assert got.ltv == 8_000.0


def test_cohort_revenue_counts_purchases_within_n_months_of_activation() -> None:
    history = timelines(
        [
            Customer("c").start(at(2025, 1, 31, 12), 1_000),
            Customer("e", currency="EUR").start(at(2025, 1, 5), 1_000),
            Customer("p", plan="basic").start(at(2025, 1, 20), 500),
        ]
    )
    bought = [
        Purchase("c", at(2025, 1, 31, 12), 1_000, "USD"),
        Purchase("c", at(2025, 2, 28, 11), 1_000, "USD"),  # inside 1 month (28 Feb 12:00)
        Purchase("c", at(2025, 2, 28, 12), 1_000, "USD"),  # the bound: outside
        Purchase("c", at(2025, 2, 1), 7_000, "EUR"),  # another currency
        Purchase("e", at(2025, 1, 5), 1_000, "EUR"),  # a customer in another currency
        Purchase("p", at(2025, 1, 30), 500, "USD"),
        Purchase("p", at(2025, 1, 10), 500, "USD"),  # before activation
    ]
    table = value.cohort_revenue(history, bought, at(2025, 1), at(2025, 2), as_of=at(2025, 5, 1))
    assert (table.currency, table.other_currencies) == ("USD", ["EUR"])
    (january,) = table.cohorts
    assert january.customers == 2
    assert [(h.months, h.revenue) for h in january.horizons] == [
        (1, 2_000 + 500),
        (3, 3_000 + 500),
        (6, None),
        (12, None),
    ]
    assert january.per_customer(january.horizons[0]) == 1_250.0
    pro = value.cohort_revenue(
        history, bought, at(2025, 1), at(2025, 2), as_of=at(2025, 5, 1), plan="pro"
    )
    assert pro.cohorts[0].customers == 1


# -- repeat purchases --------------------------------------------------------------------------


def test_repeat_purchases_by_hand() -> None:
    bought = [
        Purchase("x", utc(2025, 3, 2, 10), 1_000, "USD"),
        Purchase("x", utc(2025, 3, 2, 18), 1_000, "USD"),  # same day
        Purchase("x", utc(2025, 3, 12), 1_000, "USD"),
        Purchase("w", utc(2025, 3, 10), 500, "USD"),
        Purchase("w", utc(2025, 3, 10, 1), 500, "USD"),
        Purchase("v", utc(2025, 3, 3), 700, "EUR"),
        Purchase("v", utc(2025, 3, 4), 700, "EUR"),
        Purchase("v", utc(2025, 3, 5), 700, "EUR"),
        Purchase("u", utc(2025, 4, 1), 1_000, "USD"),  # end is exclusive
    ]
    got = value.repeat_purchases(bought, utc(2025, 3, 1), utc(2025, 4, 1), as_of=utc(2026, 1, 1))
    assert (got.currency, got.other_currencies) == ("USD", ["EUR"])
    assert (got.purchases, got.revenue, got.buyers, got.repeat_buyers) == (5, 4_000, 2, 1)
    assert (got.repeat_purchase_rate, got.median_interval_days) == (50.0, 10.0)
    assert got.frequency == {"1": 1, "2": 1, "3": 0, "4": 0, "5+": 0}


def test_purchase_currency_default_is_the_one_most_customers_bought_in() -> None:
    many_orders = [Purchase("a", utc(2025, 3, d), 1, "EUR") for d in range(1, 9)]
    buyers = [Purchase(c, utc(2025, 3, 1), 1, "USD") for c in ("b", "c")]
    assert value.select_purchase_currency(many_orders + buyers, None) == ("USD", ["EUR"])
    tie = [Purchase("a", utc(2025, 3, 1), 1, "USD"), Purchase("b", utc(2025, 3, 1), 1, "EUR")]
    assert value.select_purchase_currency(tie, None) == ("EUR", ["USD"])
    assert value.select_purchase_currency([], None) == ("USD", [])


def test_frequency_buckets() -> None:
    assert [value.frequency_bucket(n) for n in (1, 2, 3, 4, 5, 6, 40)] == [
        "1",
        "2",
        "3",
        "4",
        "5+",
        "5+",
        "5+",
    ]


# -- signal settings ---------------------------------------------------------------------------


def test_signal_settings_defaults_and_milestone_rules() -> None:
    defaults = SignalSettings()
    assert defaults.reorder_overdue.factor == 1.5
    assert defaults.inactive.days == 14
    assert defaults.loyalty_milestone.months == [3, 12, 24]
    parsed = SignalSettings.model_validate({"loyalty_milestone": {"months": [24, 1, 120]}})
    assert parsed.loyalty_milestone.months == [1, 24, 120]
    for months in ([], [0], [121], [5, 5], list(range(1, 26))):
        with pytest.raises(ValidationError):
            SignalSettings.model_validate({"loyalty_milestone": {"months": months}})
    with pytest.raises(ValidationError):
        SignalSettings.model_validate({"reorder_overdue": {"factor": float("nan")}})
