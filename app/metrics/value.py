"""Customer value and repeat-purchase metrics: the definitions, as plain Python.

The reference for :mod:`app.metrics.value_queries` (set-based SQL; the tests hold the two
equal), in the vocabulary of :mod:`app.metrics.churn` (changes, state at an instant, active,
MRR, the currency rule). See docs/metrics.md for the prose version.

- **Lifetime value** works on whole calendar months (UTC) of the window that have ended by
  ``as_of``, with the churn series' figures of each month: customers active at its start, their
  MRR then, and how many of them were lost by its end.
- **Cohort revenue** is realised revenue: what a signup cohort actually paid (purchase events)
  within N months of each member's first activation.
- **Repeat purchases** count purchase days (:mod:`app.customers.rhythm`) inside the window.
"""

from __future__ import annotations

import calendar
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from statistics import median

from app.customers.rhythm import intervals, purchase_days
from app.metrics.churn import (
    DEFAULT_CURRENCY,
    Change,
    Period,
    PeriodCounts,
    Timelines,
    churn_series,
    cohort_periods,
    first_activation,
    known_timelines,
    percentage,
    periods,
    select_currency,
)

HORIZONS: tuple[int, ...] = (1, 3, 6, 12)
FREQUENCY_BUCKETS: tuple[str, ...] = ("1", "2", "3", "4", "5+")


@dataclass(frozen=True, slots=True)
class Purchase:
    """One ``purchase`` event (the columns these metrics read)."""

    customer_id: str
    occurred_at: datetime
    amount: int
    currency: str


def add_months(t: datetime, months: int) -> datetime:
    """``t`` (in UTC) moved by whole calendar months, the day clamped to the target month's
    length: 31 January + 1 month is 28 (or 29) February. PostgreSQL's ``timestamp + interval
    'N months'`` does the same."""
    u = t.astimezone(UTC)
    index = u.year * 12 + u.month - 1 + months
    year, month = divmod(index, 12)
    day = min(u.day, calendar.monthrange(year, month + 1)[1])
    return u.replace(year=year, month=month + 1, day=day)


# -- lifetime value ----------------------------------------------------------------------------


def complete_months(start: datetime, end: datetime, as_of: datetime) -> list[Period]:
    """The calendar months overlapping ``[start, end)`` (aligned as the churn series aligns
    them) that have ended by ``as_of``."""
    return [p for p in periods(start, end, "month") if p.end <= as_of]


@dataclass(frozen=True)
class Ltv:
    currency: str
    other_currencies: list[str]
    months: list[PeriodCounts]

    @property
    def customer_months(self) -> int:
        """Sum over the months of the customers active at the month's start."""
        return sum(m.customers_at_start for m in self.months)

    @property
    def mrr_months(self) -> int:
        """Sum over the months of the MRR at the month's start (minor units)."""
        return sum(m.mrr_at_start for m in self.months)

    @property
    def churned(self) -> int:
        """Sum over the months of the customers active at the start and not at the end."""
        return sum(m.churned for m in self.months)

    @property
    def arpa(self) -> float | None:
        """Average revenue per account per month: mrr_months / customer_months (the MRR of an
        average customer-month; paused customers count with MRR 0). None without customers."""
        if self.customer_months == 0:
            return None
        return self.mrr_months / self.customer_months

    @property
    def monthly_churn_rate(self) -> float | None:
        """churned / customer_months x 100: the share of customers active at a month's start
        lost by its end, pooled over the months (months with more customers weigh more)."""
        return percentage(self.churned, self.customer_months)

    @property
    def ltv(self) -> float | None:
        """ARPA / (monthly churn rate / 100), which simplifies to mrr_months / churned: the MRR
        of the window's customer-months per customer lost. None when no customer was lost (the
        formula has no finite value) or there were no customers."""
        if self.churned == 0:
            return None
        return self.mrr_months / self.churned


def ltv(
    timelines: Timelines,
    start: datetime,
    end: datetime,
    *,
    as_of: datetime,
    plan: str | None = None,
    currency: str | None = None,
) -> Ltv:
    """The figures of the complete months of ``[start, end)``, from the monthly churn series
    (population, plan filter and currency exactly as there)."""
    months = complete_months(start, end, as_of)
    if not months:
        selection = select_currency(known_timelines(timelines, as_of), currency)
        return Ltv(selection.currency, selection.other_currencies, [])
    series = churn_series(
        timelines,
        months[0].start,
        months[-1].end,
        "month",
        as_of=as_of,
        plan=plan,
        currency=currency,
    )
    return Ltv(series.currency, series.other_currencies, series.periods)


@dataclass(frozen=True, slots=True)
class HorizonRevenue:
    months: int
    revenue: int | None  # None: the cohort is not that old yet


@dataclass(frozen=True)
class CohortRevenue:
    start: datetime
    end: datetime
    customers: int
    horizons: list[HorizonRevenue] = field(default_factory=list)

    def per_customer(self, horizon: HorizonRevenue) -> float | None:
        """Realised revenue per member: revenue / customers; None when the cohort is empty or
        not old enough."""
        if horizon.revenue is None or self.customers == 0:
            return None
        return horizon.revenue / self.customers


@dataclass(frozen=True)
class CohortRevenueTable:
    currency: str
    other_currencies: list[str]
    cohorts: list[CohortRevenue]


def cohort_revenue(
    timelines: Timelines,
    purchases: Iterable[Purchase],
    start: datetime,
    end: datetime,
    *,
    as_of: datetime,
    plan: str | None = None,
    currency: str | None = None,
    horizons: Sequence[int] = HORIZONS,
) -> CohortRevenueTable:
    """Realised revenue per monthly signup cohort.

    Cohorts: the calendar months of ``[start, end)`` begun by ``as_of``; a member is a customer
    (in the selected currency, see ``select_currency``) whose first activation (first change of
    kind ``new``) falls in the month, and with ``plan`` only those whose first activation was on
    that plan. For a horizon of N months the cohort's revenue is the sum of its members'
    purchases in the selected currency with ``first activation <= occurred_at < first
    activation + N months``; it is given only when the cohort is old enough for every member,
    ``cohort end + N months <= as_of`` (else None).
    """
    selection = select_currency(known_timelines(timelines, as_of), currency)
    by_customer: dict[str, list[Purchase]] = defaultdict(list)
    for p in purchases:
        if p.currency == selection.currency:
            by_customer[p.customer_id].append(p)
    firsts: list[tuple[str, Change]] = []
    for customer_id, changes in selection.members.items():
        first = first_activation(changes)
        if first is not None and (plan is None or first.plan == plan):
            firsts.append((customer_id, first))
    rows: list[CohortRevenue] = []
    for cohort in cohort_periods(start, end, "month", as_of):
        members = [(c, f) for c, f in firsts if cohort.start <= f.effective_at < cohort.end]
        row = CohortRevenue(cohort.start, cohort.end, len(members))
        for n in horizons:
            if add_months(cohort.end, n) > as_of:
                row.horizons.append(HorizonRevenue(n, None))
                continue
            total = sum(
                p.amount
                for customer_id, first in members
                for p in by_customer.get(customer_id, [])
                if first.effective_at <= p.occurred_at < add_months(first.effective_at, n)
            )
            row.horizons.append(HorizonRevenue(n, total))
        rows.append(row)
    return CohortRevenueTable(selection.currency, selection.other_currencies, rows)


# -- repeat purchases --------------------------------------------------------------------------


def select_purchase_currency(
    purchases: Iterable[Purchase], currency: str | None
) -> tuple[str, list[str]]:
    """The currency purchase figures are in, and the other currencies present (sorted).

    Default: the currency the most distinct customers bought in; ties go to the alphabetically
    first; "USD" without purchases. Purchases in other currencies are left out.
    """
    buyers: dict[str, set[str]] = defaultdict(set)
    for p in purchases:
        buyers[p.currency].add(p.customer_id)
    if currency is None:
        ranked = sorted(buyers, key=lambda code: (-len(buyers[code]), code))
        currency = ranked[0] if ranked else DEFAULT_CURRENCY
    return currency, sorted(code for code in buyers if code != currency)


def frequency_bucket(days: int) -> str:
    """The label of a customer with ``days`` purchase days: "1" to "4", then "5+"."""
    return str(days) if days < len(FREQUENCY_BUCKETS) else FREQUENCY_BUCKETS[-1]


@dataclass(frozen=True)
class RepeatPurchases:
    currency: str
    other_currencies: list[str]
    purchases: int
    revenue: int
    buyers: int
    repeat_buyers: int
    median_interval_days: float | None
    frequency: dict[str, int]

    @property
    def repeat_purchase_rate(self) -> float | None:
        """repeat_buyers / buyers x 100; None without buyers."""
        return percentage(self.repeat_buyers, self.buyers)


def repeat_purchases(
    purchases: Iterable[Purchase],
    start: datetime,
    end: datetime,
    *,
    as_of: datetime,
    currency: str | None = None,
) -> RepeatPurchases:
    """Repeat-purchase figures of the purchases that occurred in ``[start, end)`` and by
    ``as_of``, in the selected currency (``select_purchase_currency`` over those purchases).

    - buyers: customers with at least one purchase day in the window; repeat_buyers: with two or
      more (several purchases on one UTC day are one purchase day);
    - median_interval_days: the median of every gap between consecutive purchase days of the
      same customer inside the window, pooled over customers (None without a gap);
    - frequency: buyers by their number of purchase days in the window, 1 to 4 and 5+;
    - purchases, revenue: how many purchase events, and the sum of their amounts.
    """
    window = [p for p in purchases if start <= p.occurred_at < end and p.occurred_at <= as_of]
    selected, others = select_purchase_currency(window, currency)
    mine = [p for p in window if p.currency == selected]
    times: dict[str, list[datetime]] = defaultdict(list)
    for p in mine:
        times[p.customer_id].append(p.occurred_at)
    days: dict[str, list[date]] = {c: purchase_days(t) for c, t in times.items()}
    gaps = [gap for d in days.values() for gap in intervals(d)]
    counts = Counter(frequency_bucket(len(d)) for d in days.values())
    return RepeatPurchases(
        currency=selected,
        other_currencies=others,
        purchases=len(mine),
        revenue=sum(p.amount for p in mine),
        buyers=len(days),
        repeat_buyers=sum(1 for d in days.values() if len(d) >= 2),
        median_interval_days=float(median(gaps)) if gaps else None,
        frequency={bucket: counts[bucket] for bucket in FREQUENCY_BUCKETS},
    )
