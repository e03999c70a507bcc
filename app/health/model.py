"""The default health score model: a pure function from a customer's state at an instant to an
explainable score.

Each factor turns one aspect of the customer into a sub-score in [0, 1] (1 = healthy) or says it
has no data. The score is the weighted mean of the sub-scores that have data, times 100, with the
tenant's weights renormalised over those factors. Each factor's ``contribution`` is its share of
the score in points; contributions are apportioned in hundredths so that they add up to the
score exactly (a customer perfect on every factor scores 100, not 99.99).

Usage windows are made of complete UTC days, ending the day before ``as_of``: today's partial
usage would otherwise read as a decline every morning. Recency uses the exact instant instead.
Nothing here reads a clock: the same inputs always give the same result.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from statistics import median

from app.health.settings import FACTOR_NAMES, HealthSettings

# Bumped whenever a factor's definition changes, so stored scores can say which formulas made
# them (the tenant's settings version says which parameters).
MODEL_REVISION = 1

STATUSES = ("lead", "active", "paused", "cancelled")

# Subscription-state sub-scores: a scheduled end is the strongest churn signal short of the end
# itself, a pause with a resume date is a softer one than an open-ended pause.
STATE_ACTIVE = 1.0
STATE_PAUSED_UNTIL = 0.4
STATE_PAUSED_INDEFINITELY = 0.25
STATE_CANCEL_PENDING = 0.05
STATE_CANCELLED = 0.0

# Payment health: the first unrecovered failure leaves 0.3, each further one halves it.
FIRST_FAILURE_SCORE = 0.3

# NPS: promoters (9-10) score 1, passives (7-8) 0.75, detractors (0-6) 0.5 * nps / 6; each point
# lost since the previous answer takes 0.1 off.
NPS_PASSIVE_SCORE = 0.75
NPS_DROP_PENALTY = 0.1

# Purchase intervals: the usual rhythm is read from the latest gaps only, so a customer who
# changed pace is judged on the new one.
PURCHASE_INTERVALS_CONSIDERED = 12

# The summary calls a healthy customer simply healthy unless one factor costs this many points.
SUMMARY_DRAG_POINTS = 5.0

DAY = timedelta(days=1)

# See usage_trend: a decline is penalised more than proportionally.
TREND_EXPONENT = 2.0

PAUSED_USAGE = "subscription paused: usage is not expected"


@dataclass(frozen=True)
class HealthInputs:
    """A customer as known at ``as_of``.

    The caller resolves ``status`` as of ``as_of`` (a cancellation whose effective time has
    passed is ``cancelled``). Inputs dated after ``as_of`` are ignored rather than trusted.
    ``usage_by_day`` needs the ``settings.usage_days_needed()`` complete days before
    ``as_of``'s UTC date (days absent mean no usage); ``purchase_days`` at least the latest
    ``PURCHASE_INTERVALS_CONSIDERED + 1`` purchase days and every one inside the purchase
    frequency window; ``payment_failures`` at least those inside the payment window.
    """

    as_of: datetime
    status: str
    first_seen_at: datetime
    subscribed_at: datetime | None = None
    paused_until: datetime | None = None
    cancel_effective_at: datetime | None = None
    last_usage_at: datetime | None = None
    usage_by_day: Mapping[date, int] = field(default_factory=dict)
    purchase_days: Sequence[date] = ()
    last_purchase_at: datetime | None = None
    payment_failures: Sequence[datetime] = ()
    nps_latest: int | None = None
    nps_previous: int | None = None
    nps_at: datetime | None = None


@dataclass(frozen=True)
class Factor:
    """One factor's part in a score. ``weight`` is renormalised over the factors that have
    data; ``contribution`` = weight x score x 100 (apportioned in hundredths)."""

    name: str
    value: float | None
    score: float
    weight: float
    contribution: float
    detail: str


@dataclass(frozen=True)
class MissingFactor:
    name: str
    reason: str


@dataclass(frozen=True)
class HealthResult:
    """``score`` is the sum of the factors' contributions, 0-100 with two decimals; ``score``
    and ``tier`` are None only when no weighted factor has data."""

    score: float | None
    tier: str | None
    factors: tuple[Factor, ...]
    missing: tuple[MissingFactor, ...]
    summary: str


@dataclass(frozen=True)
class _Measure:
    value: float | None
    score: float
    detail: str


@dataclass(frozen=True)
class _Missing:
    reason: str


_Outcome = _Measure | _Missing


@dataclass(frozen=True)
class _Context:
    """What every factor derives from the inputs in the same way."""

    inputs: HealthInputs
    settings: HealthSettings
    as_of: datetime
    today: date
    first_day: date
    age_days: float

    def after_as_of(self, moment: datetime | None) -> bool:
        return moment is not None and moment > self.as_of


def tier_for(score: float, settings: HealthSettings) -> str:
    """healthy when ``score >= healthy_min``, at_risk when ``score >= at_risk_min``, else
    critical."""
    if score >= settings.tiers.healthy_min:
        return "healthy"
    if score >= settings.tiers.at_risk_min:
        return "at_risk"
    return "critical"


def score_customer(inputs: HealthInputs, settings: HealthSettings) -> HealthResult:
    """The customer's health at ``inputs.as_of``: weighted mean of the factors with data x 100.

    Raises ValueError for inputs that describe no customer: a naive ``as_of``, an unknown
    status, or an ``as_of`` before the customer was first seen.
    """
    if inputs.as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware")
    if inputs.status not in STATUSES:
        raise ValueError(f"unknown status {inputs.status!r}")
    if inputs.as_of < inputs.first_seen_at:
        raise ValueError("as_of is before the customer was first seen")
    as_of = inputs.as_of.astimezone(UTC)
    ctx = _Context(
        inputs=inputs,
        settings=settings,
        as_of=as_of,
        today=as_of.date(),
        first_day=inputs.first_seen_at.astimezone(UTC).date(),
        age_days=_days(as_of - inputs.first_seen_at),
    )

    measured: list[tuple[str, float, _Measure]] = []
    missing: list[MissingFactor] = []
    for name in FACTOR_NAMES:
        weight = settings.weights.of(name)
        if weight <= 0:
            continue
        outcome = _FACTORS[name](ctx)
        if isinstance(outcome, _Missing):
            missing.append(MissingFactor(name, outcome.reason))
        else:
            measured.append((name, weight, outcome))

    if not measured:
        return HealthResult(None, None, (), tuple(missing), "not enough data to score")

    total_weight = math.fsum(weight for _, weight, _ in measured)
    exact_weights = [weight / total_weight for _, weight, _ in measured]
    exact_points = [w * m.score * 100 for w, (_, _, m) in zip(exact_weights, measured, strict=True)]
    weight_units = _apportion(exact_weights, 10_000)
    point_units = _apportion(exact_points, round(math.fsum(exact_points) * 100), scale=100)

    factors = tuple(
        Factor(
            name=name,
            value=measure.value,
            score=round(measure.score, 4),
            weight=w_units / 10_000,
            contribution=p_units / 100,
            detail=measure.detail,
        )
        for (name, _, measure), w_units, p_units in zip(
            measured, weight_units, point_units, strict=True
        )
    )
    score = sum(point_units) / 100
    tier = tier_for(score, settings)
    drags = [
        (w * (1 - m.score) * 100, m.detail)
        for w, (_, _, m) in zip(exact_weights, measured, strict=True)
    ]
    return HealthResult(score, tier, factors, tuple(missing), _summary(tier, drags))


def _summary(tier: str, drags: list[tuple[float, str]]) -> str:
    """The biggest drag (points lost = weight x (1 - sub-score) x 100) in words, or "looks
    healthy" when the customer is healthy and nothing costs SUMMARY_DRAG_POINTS."""
    points, detail = max(drags, key=lambda drag: drag[0])
    if tier == "healthy":
        return "looks healthy" if points < SUMMARY_DRAG_POINTS else f"looks healthy, but {detail}"
    return detail


def _apportion(exact: Sequence[float], total: int, scale: int | None = None) -> list[int]:
    """Integer units (of 1/``scale``, default 1/``total``) for each non-negative ``exact`` value,
    summing to ``total``: each value's floor, plus one unit for the largest remainders
    (Hamilton's method). Every result is within one unit of its exact value."""
    factor = scale if scale is not None else total
    scaled = [max(0.0, x) * factor for x in exact]
    units = [math.floor(x) for x in scaled]
    short = max(0, min(len(units), total - sum(units)))
    by_remainder = sorted(range(len(units)), key=lambda i: scaled[i] - units[i], reverse=True)
    for i in by_remainder[:short]:
        units[i] += 1
    return units


# -- factors -------------------------------------------------------------------------------------


def usage_recency(ctx: _Context) -> _Outcome:
    """``0.5 ** (d / recency_half_life_days)`` where d is days since the last usage (value).

    The last usage is the later of ``last_usage_at`` and the start of the latest day with usage
    in ``usage_by_day``, ignoring anything after ``as_of``. A customer who never used the
    product is measured from ``first_seen_at``: not using it is a risk that grows from the first
    day (a new customer decays gently; a subscriber idle for weeks scores near 0). Missing while
    the subscription is paused: not using a paused product is the point of the pause, and the
    pause itself weighs in through the subscription state.
    """
    if ctx.inputs.status == "paused":
        return _Missing(PAUSED_USAGE)
    inputs = ctx.inputs
    candidates = [
        _day_start(day)
        for day, quantity in inputs.usage_by_day.items()
        if quantity > 0 and day <= ctx.today
    ]
    if inputs.last_usage_at is not None and not ctx.after_as_of(inputs.last_usage_at):
        candidates.append(inputs.last_usage_at)
    if candidates:
        days = max(0.0, _days(ctx.as_of - max(candidates)))
        detail = f"last used {_ago(days)}"
    else:
        days = ctx.age_days
        detail = f"no usage since first seen {_ago(days)}"
    score = 0.5 ** (days / ctx.settings.usage.recency_half_life_days)
    return _Measure(round(days, 2), score, detail)


def usage_trend(ctx: _Context) -> _Outcome:
    """``min(1, recent_rate / baseline_rate) ** TREND_EXPONENT``; value is that ratio.

    Squaring makes a decline cost more than in proportion (down 30% -> 0.49, down 60% -> 0.16):
    on our synthetic histories, usage falling away is the clearest sign of a coming
    cancellation, and a linear penalty left customers who had lost most of their usage healthy.

    recent_rate: usage per day over the ``trend_recent_days`` complete days before today;
    baseline_rate: per day over the ``trend_baseline_days`` days before those, counting only days
    since the customer was first seen. Missing for customers younger than ``new_customer_days``
    or with no baseline day yet. Baseline zero: usage that starts scores 1 (value None); no
    usage in either window scores 0 (value None), since sustained absence is no better than a
    collapse. Missing while paused (see :func:`usage_recency`).
    """
    usage = ctx.settings.usage
    if ctx.inputs.status == "paused":
        return _Missing(PAUSED_USAGE)
    if ctx.age_days < usage.new_customer_days:
        return _Missing(f"customer is {_days_phrase(ctx.age_days)} old; too new to judge a trend")
    recent_start = ctx.today - usage.trend_recent_days * DAY
    baseline_start = max(recent_start - usage.trend_baseline_days * DAY, ctx.first_day)
    baseline_days = (recent_start - baseline_start).days
    if baseline_days <= 0:
        return _Missing("no usage history before the recent window yet")
    recent_total = _usage_between(ctx.inputs.usage_by_day, recent_start, ctx.today)
    baseline_total = _usage_between(ctx.inputs.usage_by_day, baseline_start, recent_start)
    previous = f"the previous {_span(baseline_days)}"
    if baseline_total == 0:
        if recent_total == 0:
            window = _span(baseline_days + usage.trend_recent_days)
            return _Measure(None, 0.0, f"no usage in the last {window}")
        return _Measure(None, 1.0, f"usage started after none in {previous}")
    ratio = (recent_total / usage.trend_recent_days) / (baseline_total / baseline_days)
    change = round((ratio - 1) * 100)
    if change < 0:
        detail = f"usage down {-change}% vs {previous}"
    elif change > 0:
        detail = f"usage up {change}% vs {previous}"
    else:
        detail = f"usage steady vs {previous}"
    return _Measure(round(ratio, 4), min(1.0, ratio) ** TREND_EXPONENT, detail)


def usage_frequency(ctx: _Context) -> _Outcome:
    """``min(1, share / frequency_target_share)`` where share (value) is the fraction of the
    ``frequency_window_days`` complete days before today with usage, counting only days since
    the customer was first seen. Missing for customers younger than ``new_customer_days`` or
    with no complete day yet, and while paused (see :func:`usage_recency`)."""
    usage = ctx.settings.usage
    if ctx.inputs.status == "paused":
        return _Missing(PAUSED_USAGE)
    if ctx.age_days < usage.new_customer_days:
        return _Missing(f"customer is {_days_phrase(ctx.age_days)} old; too new to judge")
    start = max(ctx.today - usage.frequency_window_days * DAY, ctx.first_day)
    window = (ctx.today - start).days
    if window <= 0:
        return _Missing("no complete day since the customer was first seen")
    active = sum(
        1
        for day, quantity in ctx.inputs.usage_by_day.items()
        if quantity > 0 and start <= day < ctx.today
    )
    share = active / window
    score = min(1.0, share / usage.frequency_target_share)
    return _Measure(round(share, 4), score, f"active on {active} of the last {window} days")


def _is_subscriber(ctx: _Context) -> bool:
    subscribed_at = ctx.inputs.subscribed_at
    return subscribed_at is not None and not ctx.after_as_of(subscribed_at)


def _purchase_days(ctx: _Context) -> list[date]:
    return sorted({day for day in ctx.inputs.purchase_days if day <= ctx.today})


def _last_purchase(ctx: _Context, days: Sequence[date]) -> datetime | None:
    """The later of ``last_purchase_at`` and the start of the latest purchase day (both only
    when not after ``as_of``)."""
    candidates = [_day_start(days[-1])] if days else []
    last = ctx.inputs.last_purchase_at
    if last is not None and not ctx.after_as_of(last):
        candidates.append(last)
    return max(candidates, default=None)


def purchase_recency(ctx: _Context) -> _Outcome:
    """Time since the last purchase relative to the customer's usual interval.

    interval: median gap in days between the latest ``PURCHASE_INTERVALS_CONSIDERED + 1``
    distinct purchase days; value: overdue ratio r = days since the last purchase / interval
    (from ``last_purchase_at``, else the start of the last purchase day). Sub-score 1 while
    r <= 1, then ``0.5 ** ((r - 1) / overdue_half_life)``. Missing for subscribers (renewals
    follow the billing schedule) and until the customer has two purchase days.
    """
    if _is_subscriber(ctx):
        return _Missing("subscriber: renewals follow the billing schedule")
    days = _purchase_days(ctx)
    if len(days) < 2:
        return _Missing("fewer than 2 purchase days: no buying rhythm yet")
    recent = days[-(PURCHASE_INTERVALS_CONSIDERED + 1) :]
    interval = float(median((b - a).days for a, b in pairwise(recent)))
    last_at = _last_purchase(ctx, days) or _day_start(days[-1])
    since = max(0.0, _days(ctx.as_of - last_at))
    ratio = since / interval
    overdue_half_life = ctx.settings.purchases.overdue_half_life
    score = 1.0 if ratio <= 1 else 0.5 ** ((ratio - 1) / overdue_half_life)
    detail = f"last purchase {_ago(since)}, usually every {interval:g} days"
    return _Measure(round(ratio, 4), score, detail)


def purchase_frequency(ctx: _Context) -> _Outcome:
    """``min(1, n / expected)`` where n (value) counts purchase days in the
    ``frequency_window_days`` days ending today and expected is ``frequency_target`` scaled to
    the part of the window since the customer was first seen. Missing for subscribers and until
    the customer has two purchase days."""
    if _is_subscriber(ctx):
        return _Missing("subscriber: renewals follow the billing schedule")
    days = _purchase_days(ctx)
    if len(days) < 2:
        return _Missing("fewer than 2 purchase days: no buying rhythm yet")
    settings = ctx.settings.purchases
    window = settings.frequency_window_days
    start = ctx.today - (window - 1) * DAY
    covered = min(window, (ctx.today - ctx.first_day).days + 1)
    expected = settings.frequency_target * covered / window
    count = sum(1 for day in days if day >= start)
    plural = "day" if count == 1 else "days"
    detail = f"{count} purchase {plural} in the last {_span(window)}"
    return _Measure(float(count), min(1.0, count / expected), detail)


def payment_health(ctx: _Context) -> _Outcome:
    """Unrecovered failed payments in the last ``payments.window_days`` (value: their count n).

    A failure is recovered by a later purchase. Sub-score 1 when n = 0, else
    ``FIRST_FAILURE_SCORE * 0.5 ** (n - 1)``, or 0 for a customer who has never paid. Missing
    for a customer with no subscription, no purchase and no recent failure (nothing to judge).
    """
    inputs = ctx.inputs
    window_start = ctx.as_of - ctx.settings.payments.window_days * DAY
    recent = sorted(f for f in inputs.payment_failures if window_start <= f <= ctx.as_of)
    last_paid = _last_purchase(ctx, _purchase_days(ctx))
    if not recent and last_paid is None and not _is_subscriber(ctx):
        return _Missing("no payments to judge")
    unrecovered = [f for f in recent if last_paid is None or f > last_paid]
    n = len(unrecovered)
    window = _span(ctx.settings.payments.window_days)
    if n == 0:
        recovered = len(recent)
        detail = (
            f"no failed payment in the last {window}"
            if recovered == 0
            else f"{recovered} failed payment{'s' if recovered > 1 else ''} recovered"
        )
        return _Measure(0.0, 1.0, detail)
    score = 0.0 if last_paid is None else FIRST_FAILURE_SCORE * 0.5 ** (n - 1)
    latest = _ago(_days(ctx.as_of - unrecovered[-1]))
    detail = (
        f"payment failed {latest}"
        if n == 1
        else f"{n} failed payments in the last {window}, latest {latest}"
    )
    if last_paid is None:
        detail += ", never paid"
    return _Measure(float(n), score, detail)


def subscription_state(ctx: _Context) -> _Outcome:
    """The subscription's state at ``as_of``: cancelled 0, cancellation pending 0.05 (value:
    days until it takes effect), paused until a date 0.4 (value: days until it ends), paused
    indefinitely 0.25, active 1 (a pause whose end has passed counts as active). Pending
    cancellation outranks a pause. Missing for leads (no subscription)."""
    inputs = ctx.inputs
    if inputs.status == "lead":
        return _Missing("no subscription")
    if inputs.status == "cancelled":
        when = inputs.cancel_effective_at
        on = f" on {_date(when)}" if when is not None and not ctx.after_as_of(when) else ""
        return _Measure(None, STATE_CANCELLED, f"subscription cancelled{on}")
    cancel_at = inputs.cancel_effective_at
    if cancel_at is not None and ctx.after_as_of(cancel_at):
        return _Measure(
            round(_days(cancel_at - ctx.as_of), 2),
            STATE_CANCEL_PENDING,
            f"cancellation pending for {_date(cancel_at)}",
        )
    if inputs.status == "paused":
        until = inputs.paused_until
        if until is None:
            return _Measure(None, STATE_PAUSED_INDEFINITELY, "paused with no resume date")
        if ctx.after_as_of(until):
            return _Measure(
                round(_days(until - ctx.as_of), 2),
                STATE_PAUSED_UNTIL,
                f"paused until {_date(until)}",
            )
        return _Measure(None, STATE_ACTIVE, f"active (pause ended {_date(until)})")
    return _Measure(None, STATE_ACTIVE, "active subscription")


def sentiment(ctx: _Context) -> _Outcome:
    """Latest NPS answer (value, 0-10): promoters (9-10) 1, passives (7-8) 0.75, detractors
    ``0.5 * nps / 6``; minus ``NPS_DROP_PENALTY`` per point below the previous answer, floored at
    0. Missing without an answer, or when the answer is older than ``sentiment.max_age_days``
    or dated after ``as_of``."""
    inputs = ctx.inputs
    if inputs.nps_latest is None:
        return _Missing("no NPS answer")
    if inputs.nps_at is not None:
        if ctx.after_as_of(inputs.nps_at):
            return _Missing("no NPS answer yet at this time")
        if ctx.as_of - inputs.nps_at > ctx.settings.sentiment.max_age_days * DAY:
            return _Missing(
                f"latest NPS answer is older than {ctx.settings.sentiment.max_age_days} days"
            )
    nps = min(10, max(0, inputs.nps_latest))
    if nps >= 9:
        level = 1.0
    elif nps >= 7:
        level = NPS_PASSIVE_SCORE
    else:
        level = 0.5 * nps / 6
    previous = None if inputs.nps_previous is None else min(10, max(0, inputs.nps_previous))
    drop = max(0, previous - nps) if previous is not None else 0
    score = max(0.0, level - NPS_DROP_PENALTY * drop)
    detail = f"NPS fell from {previous} to {nps}" if drop else f"NPS {nps}"
    return _Measure(float(nps), score, detail)


def tenure(ctx: _Context) -> _Outcome:
    """``1 - 0.5 ** (t / midpoint_days)`` where t (value) is days since the subscription
    started, or since first seen for customers who never subscribed. Never missing."""
    start = ctx.inputs.subscribed_at if _is_subscriber(ctx) else None
    noun = "subscriber" if start is not None else "customer"
    t = max(0.0, _days(ctx.as_of - (start or ctx.inputs.first_seen_at)))
    score = 1 - 0.5 ** (t / ctx.settings.tenure.midpoint_days)
    return _Measure(round(t, 2), score, f"{noun} for {_days_phrase(t)}")


_FACTORS: dict[str, Callable[[_Context], _Outcome]] = {
    "usage_recency": usage_recency,
    "usage_trend": usage_trend,
    "usage_frequency": usage_frequency,
    "purchase_recency": purchase_recency,
    "purchase_frequency": purchase_frequency,
    "payment_health": payment_health,
    "subscription_state": subscription_state,
    "sentiment": sentiment,
    "tenure": tenure,
}


# -- helpers -------------------------------------------------------------------------------------


def _days(delta: timedelta) -> float:
    return delta.total_seconds() / 86_400


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _usage_between(usage: Mapping[date, int], start: date, end: date) -> int:
    """Usage on days in [start, end)."""
    return sum(max(0, quantity) for day, quantity in usage.items() if start <= day < end)


def _date(moment: datetime) -> str:
    return moment.astimezone(UTC).date().isoformat()


def _span(days: int) -> str:
    if days == 7:
        return "week"
    if days % 7 == 0:
        return f"{days // 7} weeks"
    return "day" if days == 1 else f"{days} days"


def _days_phrase(days: float) -> str:
    whole = math.floor(days)
    if whole < 1:
        return "less than a day"
    return "1 day" if whole == 1 else f"{whole} days"


def _ago(days: float) -> str:
    if days < 1 / 24:
        return "just now"
    if days < 1:
        hours = math.floor(days * 24)
        return "1 hour ago" if hours == 1 else f"{hours} hours ago"
    return f"{_days_phrase(days)} ago"
