"""A customer's purchase rhythm: purchase days, the usual interval, the next expected purchase
(pure: no I/O, no clock).

Definitions, shared by ``GET /v1/customers/{id}``, the repeat-purchase metrics and the
``customer.reorder_overdue`` signal (SQL implements the same in the repositories; tests hold
the two equal):

- A **purchase day** is a UTC calendar date with at least one ``purchase`` event of the
  customer. Several purchases on one day are one purchase day: a basket split into two orders,
  or an invoice and its retry, is not a second visit.
- The **intervals** are the gaps in days between consecutive purchase days.
- The customer's **median interval** is the median of its intervals (the mean of the two middle
  ones for an even count); there is none before a second purchase day.
- A **repeat buyer** has two purchase days or more; a **one-time buyer** exactly one.
- The tenant's **median interval** is the median, over its repeat buyers, of each one's median
  interval: every repeat buyer counts once, however often it buys.
- The **expected next purchase** is the last purchase instant plus the customer's median
  interval; for a one-time buyer, plus the tenant's median interval; unknown without purchases,
  or for a one-time buyer of a tenant without repeat buyers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from statistics import median
from typing import Literal

IntervalSource = Literal["customer", "tenant"]


def purchase_days(times: Iterable[datetime]) -> list[date]:
    """The distinct UTC dates of ``times``, ascending."""
    return sorted({t.astimezone(UTC).date() for t in times})


def intervals(days: Sequence[date]) -> list[int]:
    """Days between consecutive entries of ``days`` (ascending, distinct)."""
    return [(b - a).days for a, b in pairwise(days)]


def median_interval(days: Sequence[date]) -> float | None:
    """The median of ``intervals(days)``; None with fewer than two days."""
    gaps = intervals(days)
    return float(median(gaps)) if gaps else None


def tenant_median_interval(days_per_customer: Iterable[Sequence[date]]) -> float | None:
    """The median over repeat buyers of their own median interval; None without repeat buyers."""
    medians = [m for days in days_per_customer if (m := median_interval(days)) is not None]
    return float(median(medians)) if medians else None


@dataclass(frozen=True, slots=True)
class Rhythm:
    purchase_days: int
    median_interval_days: float | None
    last_purchase_at: datetime | None
    expected_next_purchase_at: datetime | None
    interval_source: IntervalSource | None


def rhythm(
    purchase_day_count: int,
    own_median: float | None,
    last_purchase_at: datetime | None,
    tenant_median: float | None,
) -> Rhythm:
    """The customer's rhythm from its purchase-day count, own median interval and last purchase
    instant; ``tenant_median`` is only used for a one-time buyer."""
    interval: float | None = None
    source: IntervalSource | None = None
    if last_purchase_at is not None:
        if own_median is not None:
            interval, source = own_median, "customer"
        elif tenant_median is not None:
            interval, source = tenant_median, "tenant"
    expected = (
        last_purchase_at + timedelta(days=interval)
        if last_purchase_at is not None and interval is not None
        else None
    )
    return Rhythm(
        purchase_days=purchase_day_count,
        median_interval_days=own_median,
        last_purchase_at=last_purchase_at,
        expected_next_purchase_at=expected,
        interval_source=source,
    )
