"""Churn, revenue and cohort metrics: the definitions, as plain Python over in-memory timelines.

This module is the reference: :mod:`app.metrics.queries` computes the same figures set-based in
SQL, and the tests hold the two equal. It also owns the small pieces both paths share: period
alignment, percentages, the benchmark flag. See docs/metrics.md for the prose version.

Vocabulary
- A *change* is one row of ``customer_status_changes``: the customer's state (status, plan, MRR)
  after it, from ``effective_at`` on. Changes of one customer are ordered by
  ``(effective_at, seq)``. A customer without changes is a lead, not a subscriber.
- Only changes with ``effective_at <= as_of`` are known; later (scheduled) ones are ignored.
- The state of a customer *at instant t* is its latest change with ``effective_at < t``
  (strictly before): a change exactly on a period boundary belongs to the period starting there.
- *Active* at t: status ``active`` or ``paused``. *MRR* at t: the state's ``mrr`` when its
  status is ``active``, else 0 (a paused or cancelled customer brings no revenue).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Literal

Granularity = Literal["day", "week", "month", "quarter"]
CohortGranularity = Literal["week", "month", "quarter"]
Benchmark = Literal["healthy", "watch", "needs_attention"]

GRANULARITIES: tuple[Granularity, ...] = ("day", "week", "month", "quarter")
ACTIVE_STATUSES = frozenset({"active", "paused"})
DEFAULT_CURRENCY = "USD"

# Benchmark bands for a monthly churn rate, in percent.
HEALTHY_BELOW = 5.0
NEEDS_ATTENTION_ABOVE = 10.0

_MONTHS_PER_STEP: Mapping[Granularity, int] = {"day": 0, "week": 0, "month": 1, "quarter": 3}
_DAYS_PER_STEP: Mapping[Granularity, int] = {"day": 1, "week": 7, "month": 0, "quarter": 0}


@dataclass(frozen=True, slots=True)
class Change:
    """One row of ``customer_status_changes`` (the columns the metrics read)."""

    effective_at: datetime
    seq: int
    kind: str
    status: str
    previous_status: str
    mrr: int
    previous_mrr: int = 0
    plan: str | None = None
    currency: str | None = None
    reason: str | None = None


Timelines = Mapping[str, Sequence[Change]]


@dataclass(frozen=True, slots=True)
class Period:
    start: datetime
    end: datetime


# -- periods -----------------------------------------------------------------------------------


def truncate(t: datetime, granularity: Granularity) -> datetime:
    """Start (UTC) of the calendar period containing ``t``: midnight, Monday of the ISO week,
    first of the month, first of the quarter (January, April, July, October)."""
    u = t.astimezone(UTC)
    day = datetime(u.year, u.month, u.day, tzinfo=UTC)
    if granularity == "day":
        return day
    if granularity == "week":
        return day - timedelta(days=day.weekday())
    if granularity == "month":
        return day.replace(day=1)
    return datetime(u.year, 3 * ((u.month - 1) // 3) + 1, 1, tzinfo=UTC)


def advance(start: datetime, granularity: Granularity, steps: int = 1) -> datetime:
    """The period start ``steps`` periods after the aligned period start ``start``."""
    months = _MONTHS_PER_STEP[granularity] * steps
    if months:
        index = start.year * 12 + start.month - 1 + months
        return start.replace(year=index // 12, month=index % 12 + 1)
    return start + timedelta(days=_DAYS_PER_STEP[granularity] * steps)


def period_index(t: datetime, granularity: Granularity) -> int:
    """A number that grows by one from each period to the next (for counting periods)."""
    start = truncate(t, granularity)
    if granularity == "day":
        return start.toordinal()
    if granularity == "week":
        return start.toordinal() // 7
    return (start.year * 12 + start.month - 1) // _MONTHS_PER_STEP[granularity]


def period_count(start: datetime, end: datetime, granularity: Granularity) -> int:
    """How many calendar periods overlap ``[start, end)`` (0 when ``end <= start``)."""
    if end <= start:
        return 0
    last = end - timedelta(microseconds=1)
    return period_index(last, granularity) - period_index(start, granularity) + 1


def periods(start: datetime, end: datetime, granularity: Granularity) -> list[Period]:
    """Every calendar period of ``granularity`` that overlaps ``[start, end)``, in order.

    Alignment: periods are whole calendar periods in UTC, so the first one starts at ``start``
    truncated to the granularity and the last one is the one containing the instant just before
    ``end`` (it may end after ``end``). ``start=2024-01-15, end=2024-03-01, month`` gives January
    and February; ``end=2024-03-02`` adds March.
    """
    out: list[Period] = []
    current = truncate(start, granularity)
    while current < end:
        following = advance(current, granularity)
        out.append(Period(current, following))
        current = following
    return out


def grid_end(end: datetime, granularity: Granularity) -> datetime:
    """The end of the last period ``periods(start, end, granularity)`` returns."""
    return advance(truncate(end - timedelta(microseconds=1), granularity), granularity)


def last_full_month(as_of: datetime) -> Period:
    """The last calendar month (UTC) that ended at or before ``as_of``."""
    this_month = truncate(as_of, "month")
    return Period(advance(this_month, "month", -1), this_month)


def utc_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


# -- state -------------------------------------------------------------------------------------


def known(changes: Iterable[Change], as_of: datetime) -> list[Change]:
    """The changes effective at or before ``as_of``, in ``(effective_at, seq)`` order."""
    return sorted(
        (c for c in changes if c.effective_at <= as_of), key=lambda c: (c.effective_at, c.seq)
    )


def known_timelines(timelines: Timelines, as_of: datetime) -> dict[str, list[Change]]:
    """``known`` for every customer; customers left with no change are dropped (leads)."""
    out = {customer: known(changes, as_of) for customer, changes in timelines.items()}
    return {customer: changes for customer, changes in out.items() if changes}


def state_at(changes: Sequence[Change], t: datetime) -> Change | None:
    """The latest change effective strictly before ``t`` (changes ordered), or None."""
    state: Change | None = None
    for change in changes:
        if change.effective_at >= t:
            break
        state = change
    return state


def is_active(state: Change | None) -> bool:
    """Active = a subscription exists: status active or paused."""
    return state is not None and state.status in ACTIVE_STATUSES


def mrr_of(state: Change | None) -> int:
    """MRR counted for a state: its mrr when active, 0 when paused, cancelled or absent."""
    return state.mrr if state is not None and state.status == "active" else 0


def first_activation(changes: Sequence[Change]) -> Change | None:
    """The customer's first-ever activation: its earliest change of kind ``new``."""
    return next((c for c in changes if c.kind == "new"), None)


def percentage(numerator: int, denominator: int) -> float | None:
    """``numerator / denominator x 100`` as the float nearest the exact value (integers are
    multiplied first, then divided once: no rounding to 2 places, no double rounding); None when
    the denominator is 0 (no base, no rate)."""
    if denominator == 0:
        return None
    return numerator * 100 / denominator


def benchmark(monthly_churn_rate: float | None) -> Benchmark | None:
    """Healthy under 5% monthly churn, needs attention over 10%, watch in between (5% and 10%
    included); None without a rate."""
    if monthly_churn_rate is None:
        return None
    if monthly_churn_rate < HEALTHY_BELOW:
        return "healthy"
    if monthly_churn_rate > NEEDS_ATTENTION_ABOVE:
        return "needs_attention"
    return "watch"


# -- currency ----------------------------------------------------------------------------------


def customer_currency(changes: Sequence[Change]) -> str | None:
    """A customer's currency: that of its latest change that names one (None if none does)."""
    return next((c.currency for c in reversed(changes) if c.currency is not None), None)


@dataclass(frozen=True)
class CurrencySelection:
    currency: str
    other_currencies: list[str]
    members: dict[str, list[Change]]


def select_currency(
    timelines: Mapping[str, list[Change]], currency: str | None
) -> CurrencySelection:
    """The currency the figures are in and the customers they cover.

    Default currency: the one most customers with an MRR-bearing change (MRR > 0) have; ties go
    to the alphabetically first; "USD" when no customer has one. Customers whose currency is
    another one are left out of every figure; customers without a currency count as the selected
    one. ``other_currencies`` lists the other currencies present, sorted.
    """
    currencies = {customer: customer_currency(changes) for customer, changes in timelines.items()}
    if currency is None:
        counts = Counter(
            code
            for customer, code in currencies.items()
            if code is not None and any(mrr_of(c) > 0 for c in timelines[customer])
        )
        ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        currency = ranked[0][0] if ranked else DEFAULT_CURRENCY
    others = sorted({code for code in currencies.values() if code not in (None, currency)})
    members = {
        customer: changes
        for customer, changes in timelines.items()
        if currencies[customer] in (None, currency)
    }
    return CurrencySelection(currency, [code for code in others if code is not None], members)


# -- churn series ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PeriodCounts:
    """The integer figures of one period; the rates derive from them."""

    start: datetime
    end: datetime
    customers_at_start: int = 0
    customers_at_end: int = 0
    churned: int = 0
    new: int = 0
    reactivated: int = 0
    paused: int = 0
    mrr_at_start: int = 0
    mrr_at_end: int = 0
    mrr_new: int = 0
    mrr_churned: int = 0
    mrr_contraction: int = 0
    mrr_expansion: int = 0
    mrr_retained: int = 0

    @property
    def churn_rate(self) -> float | None:
        """Churned / customers active at start x 100."""
        return percentage(self.churned, self.customers_at_start)

    @property
    def revenue_churn_rate(self) -> float | None:
        """(MRR of churned customers at start + contraction of kept ones) / MRR at start x 100."""
        return percentage(self.mrr_churned + self.mrr_contraction, self.mrr_at_start)

    @property
    def net_revenue_retention(self) -> float | None:
        """MRR at end of the customers active at start / MRR at start x 100."""
        return percentage(self.mrr_retained, self.mrr_at_start)


def period_counts(
    timelines: Mapping[str, Sequence[Change]], period: Period, plan: str | None = None
) -> PeriodCounts:
    """The figures of ``[period.start, period.end)`` over known, ordered timelines.

    Population: every customer, or with ``plan`` only those whose state at period start has that
    plan (so customers who first subscribe during the period are never in a plan's population).
    - customers_at_start / customers_at_end: active at start / at end.
    - churned: active at start and not active at end (a cancel-and-return inside the period is
      not churn; a start-and-cancel inside it is not in the denominator).
    - new: first-ever activation (kind ``new``) inside the period; mrr_new: their MRR at end
      (0 if they are paused or gone by then).
    - reactivated: customers with a change to ``active`` from ``cancelled`` inside the period.
    - paused: customers whose status at end is ``paused``.
    - mrr_at_start / mrr_at_end: MRR at start / at end, summed over the population.
    - mrr_churned: MRR at start of the churned customers.
    - mrr_contraction / mrr_expansion: over customers active at start and at end, the sum of
      max(0, start - end) / max(0, end - start) of their MRR (a pause is contraction to 0).
    - mrr_retained: MRR at end of the customers active at start (numerator of NRR).
    """
    start, end = period.start, period.end
    out: dict[str, int] = Counter()
    for changes in timelines.values():
        s0, s1 = state_at(changes, start), state_at(changes, end)
        if plan is not None and (s0 is None or s0.plan != plan):
            continue
        a0, a1, m0, m1 = is_active(s0), is_active(s1), mrr_of(s0), mrr_of(s1)
        if a0:
            out["customers_at_start"] += 1
            out["mrr_at_start"] += m0
            out["mrr_retained"] += m1
            if a1:
                out["mrr_contraction"] += max(0, m0 - m1)
                out["mrr_expansion"] += max(0, m1 - m0)
            else:
                out["churned"] += 1
                out["mrr_churned"] += m0
        if a1:
            out["customers_at_end"] += 1
        out["mrr_at_end"] += m1
        if s1 is not None and s1.status == "paused":
            out["paused"] += 1
        first = first_activation(changes)
        if first is not None and start <= first.effective_at < end:
            out["new"] += 1
            out["mrr_new"] += m1
        if any(
            c.status == "active"
            and c.previous_status == "cancelled"
            and start <= c.effective_at < end
            for c in changes
        ):
            out["reactivated"] += 1
    return PeriodCounts(start=start, end=end, **out)


@dataclass(frozen=True)
class ChurnSeries:
    currency: str
    other_currencies: list[str]
    periods: list[PeriodCounts]


def churn_series(
    timelines: Timelines,
    start: datetime,
    end: datetime,
    granularity: Granularity,
    *,
    as_of: datetime,
    plan: str | None = None,
    currency: str | None = None,
) -> ChurnSeries:
    """``period_counts`` for every period of ``periods(start, end, granularity)``, over the
    changes known at ``as_of``, in the selected currency (see ``select_currency``)."""
    selection = select_currency(known_timelines(timelines, as_of), currency)
    return ChurnSeries(
        currency=selection.currency,
        other_currencies=selection.other_currencies,
        periods=[
            period_counts(selection.members, p, plan) for p in periods(start, end, granularity)
        ],
    )


# -- cohorts -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CohortCell:
    index: int
    start: datetime
    end: datetime
    active: int
    mrr: int


@dataclass(frozen=True)
class CohortRow:
    start: datetime
    end: datetime
    customers: int
    starting_mrr: int
    cells: list[CohortCell] = field(default_factory=list)

    def customer_retention(self, cell: CohortCell) -> float | None:
        """Share (percent) of the cohort active at the end of the cell's period."""
        return percentage(cell.active, self.customers)

    def revenue_retention(self, cell: CohortCell) -> float | None:
        """The cohort's MRR at the end of the cell's period / its MRR right after first
        activation x 100."""
        return percentage(cell.mrr, self.starting_mrr)


@dataclass(frozen=True)
class CohortMatrix:
    currency: str
    other_currencies: list[str]
    cohorts: list[CohortRow]


def cohort_periods(
    start: datetime, end: datetime, granularity: Granularity, as_of: datetime
) -> list[Period]:
    """The periods of ``[start, end)`` that have begun by ``as_of`` (the last full or current)."""
    return [p for p in periods(start, end, granularity) if p.start <= as_of]


def cohort_matrix(
    timelines: Timelines,
    start: datetime,
    end: datetime,
    granularity: CohortGranularity,
    *,
    as_of: datetime,
    currency: str | None = None,
) -> CohortMatrix:
    """Signup cohorts x periods since signup.

    A customer's cohort is the period containing its first activation (its first change of kind
    ``new``). Cohorts are the periods of ``[start, end)`` begun by ``as_of``. For cohort c and
    k = 0, 1, ... while period c+k is one of those periods, cell k holds the cohort's customers
    active at the end of period c+k and their MRR then. Customer retention = active / cohort
    size x 100; revenue retention = that MRR / the cohort's MRR right after first activation
    (the ``mrr`` of each member's ``new`` change) x 100.
    """
    selection = select_currency(known_timelines(timelines, as_of), currency)
    grid = cohort_periods(start, end, granularity, as_of)
    rows: list[CohortRow] = []
    for i, cohort in enumerate(grid):
        members: list[tuple[Sequence[Change], Change]] = []
        for changes in selection.members.values():
            first = first_activation(changes)
            if first is not None and cohort.start <= first.effective_at < cohort.end:
                members.append((changes, first))
        row = CohortRow(
            start=cohort.start,
            end=cohort.end,
            customers=len(members),
            starting_mrr=sum(mrr_of(first) for _, first in members),
        )
        for k, later in enumerate(grid[i:]):
            states = [state_at(changes, later.end) for changes, _ in members]
            row.cells.append(
                CohortCell(
                    index=k,
                    start=later.start,
                    end=later.end,
                    active=sum(1 for s in states if is_active(s)),
                    mrr=sum(mrr_of(s) for s in states),
                )
            )
        rows.append(row)
    return CohortMatrix(selection.currency, selection.other_currencies, rows)


# -- cancellations and the current state -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReasonCount:
    reason: str | None
    cancellations: int
    mrr_lost: int


@dataclass(frozen=True)
class CancellationReport:
    currency: str
    other_currencies: list[str]
    by_reason: list[ReasonCount]

    @property
    def cancellations(self) -> int:
        return sum(r.cancellations for r in self.by_reason)

    @property
    def mrr_lost(self) -> int:
        return sum(r.mrr_lost for r in self.by_reason)


def cancellation_report(
    timelines: Timelines,
    start: datetime,
    end: datetime,
    *,
    as_of: datetime,
    currency: str | None = None,
) -> CancellationReport:
    """Cancellations (changes of kind ``churned``) effective in ``[start, end)``, by reason:
    how many, and the MRR they lost (each row's ``previous_mrr``). Most frequent reason first,
    ties by reason; a missing reason is its own group (None, listed last among equals)."""
    selection = select_currency(known_timelines(timelines, as_of), currency)
    counts: Counter[str | None] = Counter()
    lost: Counter[str | None] = Counter()
    for changes in selection.members.values():
        for c in changes:
            if c.kind == "churned" and start <= c.effective_at < end:
                counts[c.reason] += 1
                lost[c.reason] += c.previous_mrr
    ordered = sorted(counts, key=lambda r: (-counts[r], r is None, r or ""))
    return CancellationReport(
        selection.currency,
        selection.other_currencies,
        [ReasonCount(r, counts[r], lost[r]) for r in ordered],
    )


@dataclass(frozen=True)
class CurrentState:
    currency: str
    other_currencies: list[str]
    active: int
    paused: int
    cancelled: int
    mrr: int


def current_state(
    timelines: Timelines, *, as_of: datetime, currency: str | None = None
) -> CurrentState:
    """Customers by status and total MRR from each customer's latest change known at ``as_of``
    (leads, who have no change, are counted from the customers table, not here)."""
    selection = select_currency(known_timelines(timelines, as_of), currency)
    latest = [changes[-1] for changes in selection.members.values()]
    statuses = Counter(s.status for s in latest)
    return CurrentState(
        selection.currency,
        selection.other_currencies,
        active=statuses["active"],
        paused=statuses["paused"],
        cancelled=statuses["cancelled"],
        mrr=sum(mrr_of(s) for s in latest),
    )
