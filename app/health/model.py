"""The expert health model: hand-set factors over the shared features, vectorised over customers.

Each factor turns one aspect of a customer into a sub-score in [0, 1] (1 = healthy) or says it
has no data. The score is the weighted mean of the sub-scores that have data, times 100, with the
tenant's weights renormalised over those factors. Each factor's ``contribution`` is its share of
the score in points, apportioned in hundredths so that the contributions add up to the score
exactly.

Directions (held by unit tests): more usage in the recent window, a more recent last use, a
higher usage level against the tenant's other customers, more purchases and a more recent
purchase never lower the score; a failed payment or a pending cancellation never raise it.

Nothing here reads a clock or the database: :mod:`app.health.features` says what is known.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial

import numpy as np
import numpy.typing as npt

from app.health.features import (
    STATUS_CODES,
    Array,
    Features,
    Histories,
    build_features,
    histories_from_inputs,
    window,
)
from app.health.settings import FACTOR_NAMES, HealthSettings

# Bumped whenever a factor's definition changes, so stored scores can say which formulas made
# them (the tenant's settings version says which parameters). 2: usage level against the
# tenant, purchase factors for every buyer, strict "before as_of", today's usage counts.
MODEL_REVISION = 2

STATUSES = tuple(STATUS_CODES)

STATE_ACTIVE = 1.0
STATE_PAUSED_UNTIL = 0.4
STATE_PAUSED_INDEFINITELY = 0.25
STATE_CANCEL_PENDING = 0.05
STATE_CANCELLED = 0.0

FIRST_FAILURE_SCORE = 0.3
NPS_PASSIVE_SCORE = 0.75
NPS_DROP_PENALTY = 0.1
SUMMARY_DRAG_POINTS = 5.0
NOT_ENOUGH_DATA = "not enough data to score"
TREND_EXPONENT = 2.0
LEVEL_WINDOW_DAYS = 28

PAUSED_USAGE = "subscription paused: usage is not expected"
SUBSCRIBER_PURCHASES = "subscriber: renewals follow the billing schedule"


@dataclass(frozen=True)
class HealthInputs:
    """One customer as known at ``as_of`` (unit tests and the reference behaviour). Anything
    dated at or after ``as_of`` is ignored. ``reference`` is the tenant's population of 28-day
    usage totals (the usage level factor is missing without it); ``tenant_interval`` the
    tenant's typical days between purchases."""

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
    reference: Sequence[float] = ()
    tenant_interval: float | None = None


@dataclass(frozen=True)
class Factor:
    """One factor's part in a score. Expert: ``weight`` renormalised over the factors with
    data, ``contribution`` = weight x score x 100. Learned: ``score`` is None, ``weight`` the
    standardised coefficient, ``contribution`` the points it moves the score from the tenant's
    average customer."""

    name: str
    value: float | None
    score: float | None
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


def tier_for(score: float, settings: HealthSettings) -> str:
    """healthy when ``score >= healthy_min``, at_risk when ``score >= at_risk_min``, else
    critical."""
    return tier_between(score, settings.tiers.healthy_min, settings.tiers.at_risk_min)


def tier_between(score: float, healthy_min: float, at_risk_min: float) -> str:
    if score >= healthy_min:
        return "healthy"
    if score >= at_risk_min:
        return "at_risk"
    return "critical"


# -- the factors, vectorised --------------------------------------------------------------------


@dataclass(frozen=True)
class _Ctx:
    f: Features
    settings: HealthSettings
    today_elapsed: float  # fraction of as_of's UTC day already past
    first_offset: npt.NDArray[np.int64]  # complete days since the first-seen day (0: today)

    def col(self, name: str) -> Array:
        return self.f[name]

    @property
    def status(self) -> npt.NDArray[np.int8]:
        return self.f.histories.status


@dataclass(frozen=True)
class _Out:
    """Per customer: value, sub-score and whether the factor has data."""

    value: Array
    score: Array
    present: npt.NDArray[np.bool_]


def _usage_recency(c: _Ctx) -> _Out:
    since = c.col("days_since_use")
    days = np.where(np.isnan(since), c.col("age_days"), since)
    score = 0.5 ** (days / c.settings.usage.recency_half_life_days)
    return _Out(days, score, c.status != STATUS_CODES["paused"])


def _usage_trend(c: _Ctx) -> _Out:
    usage = c.settings.usage
    u = c.f.histories.usage
    recent_days, base_days = usage.trend_recent_days, usage.trend_baseline_days
    baseline_days = np.clip(c.first_offset - recent_days, 0, base_days)
    cum = np.concatenate([np.zeros((u.shape[0], 1)), np.cumsum(u, axis=1)], axis=1)
    recent = window(u, 1, recent_days)
    end = np.minimum(recent_days + baseline_days, u.shape[1] - 1)
    baseline = np.take_along_axis(cum, (end + 1)[:, None], axis=1)[:, 0] - cum[:, recent_days + 1]
    today = u[:, 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (recent / recent_days) / (baseline / np.maximum(baseline_days, 1))
    score = np.where(
        baseline > 0,
        np.minimum(1.0, np.nan_to_num(ratio)) ** TREND_EXPONENT,
        np.where(recent + today > 0, 1.0, 0.0),
    )
    present = (
        (c.status != STATUS_CODES["paused"])
        & (c.col("age_days") >= usage.new_customer_days)
        & (baseline_days > 0)
    )
    return _Out(np.where(baseline > 0, ratio, np.nan), score, present)


def _usage_frequency(c: _Ctx) -> _Out:
    usage = c.settings.usage
    u = c.f.histories.usage
    days = np.minimum(usage.frequency_window_days, c.first_offset)
    active_by_day = np.cumsum(u[:, 1:] > 0, axis=1)
    idx = np.clip(days - 1, 0, active_by_day.shape[1] - 1)
    active = np.where(days > 0, np.take_along_axis(active_by_day, idx[:, None], axis=1)[:, 0], 0)
    share = active / np.maximum(days, 1)
    score = np.minimum(1.0, share / usage.frequency_target_share)
    present = (
        (c.status != STATUS_CODES["paused"])
        & (c.col("age_days") >= usage.new_customer_days)
        & (days > 0)
    )
    return _Out(share, score, present)


def _usage_level(c: _Ctx) -> _Out:
    pct = c.col("usage_percentile")
    present = (
        (c.status != STATUS_CODES["paused"])
        & (c.col("age_days") >= c.settings.usage.new_customer_days)
        & ~np.isnan(pct)
    )
    return _Out(pct, np.nan_to_num(pct), present)


def _buyer(c: _Ctx) -> npt.NDArray[np.bool_]:
    buyer: npt.NDArray[np.bool_] = (c.col("subscriber") == 0) & (c.col("purchase_days") > 0)
    return buyer


def _purchase_recency(c: _Ctx) -> _Out:
    """Days since the last purchase over the tenant's typical interval (the customer's own
    mean interval only when the tenant has none): a customer-relative interval would let one
    more purchase shorten the interval and lower the score."""
    h = c.f.histories
    interval = h.tenant_interval if not math.isnan(h.tenant_interval) else None
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = (
            h.last_purchase_days / max(interval, 1.0)
            if interval is not None
            else c.col("days_since_purchase") / np.maximum(c.col("purchase_interval"), 1.0)
        )
    half_life = c.settings.purchases.overdue_half_life
    score = np.where(ratio <= 1, 1.0, 0.5 ** ((np.nan_to_num(ratio) - 1) / half_life))
    return _Out(ratio, score, _buyer(c) & ~np.isnan(ratio))


def _purchase_frequency(c: _Ctx) -> _Out:
    settings = c.settings.purchases
    count = c.f.histories.purchase_days_window
    covered = np.minimum(settings.frequency_window_days, c.first_offset + 1)
    expected = settings.frequency_target * covered / settings.frequency_window_days
    return _Out(count, np.minimum(1.0, count / expected), _buyer(c))


def _payment_health(c: _Ctx) -> _Out:
    h = c.f.histories
    n = h.unrecovered
    paid = ~np.isnan(h.last_purchase_days)
    score = np.where(n == 0, 1.0, np.where(paid, FIRST_FAILURE_SCORE * 0.5 ** (n - 1), 0.0))
    present = (h.failures > 0) | paid | (c.col("subscriber") > 0)
    return _Out(n, score, present)


def _subscription_state(c: _Ctx) -> _Out:
    h = c.f.histories
    status = c.status
    pending = ~np.isnan(h.pending_cancel_days)
    paused = status == STATUS_CODES["paused"]
    until = ~np.isnan(h.paused_until_days)
    score = np.select(
        [
            status == STATUS_CODES["cancelled"],
            pending,
            paused & until,
            paused,
        ],
        [STATE_CANCELLED, STATE_CANCEL_PENDING, STATE_PAUSED_UNTIL, STATE_PAUSED_INDEFINITELY],
        STATE_ACTIVE,
    )
    value = np.where(pending, h.pending_cancel_days, np.where(paused, h.paused_until_days, np.nan))
    return _Out(value, score, status != STATUS_CODES["lead"])


def _sentiment(c: _Ctx) -> _Out:
    h = c.f.histories
    nps = np.clip(h.nps, 0, 10)
    level = np.where(nps >= 9, 1.0, np.where(nps >= 7, NPS_PASSIVE_SCORE, 0.5 * nps / 6))
    drop = np.nan_to_num(np.maximum(0, np.clip(h.nps_previous, 0, 10) - nps))
    score = np.maximum(0.0, level - NPS_DROP_PENALTY * drop)
    fresh = np.isnan(h.nps_days) | (h.nps_days <= c.settings.sentiment.max_age_days)
    return _Out(nps, np.nan_to_num(score), ~np.isnan(nps) & fresh)


def _tenure(c: _Ctx) -> _Out:
    t = c.col("tenure_days")
    score = 1 - 0.5 ** (t / c.settings.tenure.midpoint_days)
    return _Out(t, score, np.ones(t.shape, dtype=bool))


_FACTORS: dict[str, Callable[[_Ctx], _Out]] = {
    "usage_recency": _usage_recency,
    "usage_trend": _usage_trend,
    "usage_frequency": _usage_frequency,
    "usage_level": _usage_level,
    "purchase_recency": _purchase_recency,
    "purchase_frequency": _purchase_frequency,
    "payment_health": _payment_health,
    "subscription_state": _subscription_state,
    "sentiment": _sentiment,
    "tenure": _tenure,
}
assert tuple(_FACTORS) == FACTOR_NAMES


# -- scoring ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExpertScores:
    """Every customer's score (NaN: no factor with data) and each factor's part, vectorised.
    ``points`` and ``weights`` are apportioned (hundredths of a point, ten-thousandths)."""

    features: Features
    names: tuple[str, ...]
    values: Array  # (n, F)
    subscores: Array  # (n, F), NaN where missing
    weights: Array  # (n, F) renormalised, apportioned; 0 where missing
    points: Array  # (n, F) apportioned contributions
    score: Array  # (n,)
    drags: Array  # (n, F) points each factor costs (weight x (1 - sub-score) x 100); -1 missing
    order: npt.NDArray[np.int64]  # (n, F) factors by drag, biggest first


def apportion(exact: Array, totals: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Row by row, integer units for each non-negative entry of ``exact`` (already in units)
    summing to the row's total: floors, plus one unit for the largest remainders (Hamilton's
    method). Each result is within one unit of its exact value."""
    scaled = np.maximum(exact, 0.0)
    units = np.floor(scaled).astype(np.int64)
    short = np.clip(totals - units.sum(axis=1), 0, exact.shape[1])
    order = np.argsort(-(scaled - units), axis=1, kind="stable")
    ranks = np.empty_like(order)
    rows = np.arange(exact.shape[0])[:, None]
    ranks[rows, order] = np.arange(exact.shape[1])[None, :]
    out: npt.NDArray[np.int64] = units + (ranks < short[:, None])
    return out


def expert_scores(features: Features, settings: HealthSettings) -> ExpertScores:
    h = features.histories
    as_of = h.as_of.astimezone(UTC)
    elapsed = (as_of - datetime.combine(as_of.date(), datetime.min.time(), UTC)).total_seconds()
    today_elapsed = elapsed / 86_400
    first_offset = np.where(
        h.first_seen_days - today_elapsed > 0, np.ceil(h.first_seen_days - today_elapsed), 0
    ).astype(np.int64)
    ctx = _Ctx(features, settings, today_elapsed, first_offset)
    names = tuple(name for name in FACTOR_NAMES if settings.weights.of(name) > 0)
    n = h.n
    values = np.full((n, len(names)), np.nan)
    subs = np.full((n, len(names)), np.nan)
    for j, name in enumerate(names):
        out = _FACTORS[name](ctx)
        values[:, j] = np.where(out.present, out.value, np.nan)
        subs[:, j] = np.where(out.present, np.clip(out.score, 0.0, 1.0), np.nan)
    raw = np.array([settings.weights.of(name) for name in names])
    present = ~np.isnan(subs)
    w = np.where(present, raw[None, :], 0.0)
    total = w.sum(axis=1)
    has = total > 0
    w = np.where(has[:, None], w / np.where(has, total, 1.0)[:, None], 0.0)
    exact = w * np.nan_to_num(subs) * 100
    point_units = apportion(exact * 100, np.round(exact.sum(axis=1) * 100).astype(np.int64))
    weight_units = apportion(w * 10_000, np.where(has, 10_000, 0))
    score = np.where(has, point_units.sum(axis=1) / 100, np.nan)
    drags = np.where(present, w * (1 - np.nan_to_num(subs)) * 100, -1.0)
    return ExpertScores(
        features=features,
        names=names,
        values=values,
        subscores=subs,
        weights=weight_units / 10_000,
        points=point_units / 100,
        score=score,
        drags=drags,
        order=np.argsort(-drags, axis=1, kind="stable"),
    )


def explain(scores: ExpertScores, i: int, settings: HealthSettings) -> HealthResult:
    """Customer ``i``'s result with its factors in words (:func:`briefs` gives everyone's
    score, tier and summary without them)."""
    score = float(scores.score[i])
    worst = int(scores.order[i, 0])
    biggest_drag = (
        None
        if math.isnan(scores.subscores[i, worst])
        else (
            float(scores.drags[i, worst]),
            lambda: _detail(scores.features, i, scores.names[worst], settings),
        )
    )
    subs = scores.subscores[i].tolist()
    values = scores.values[i].tolist()
    weights = scores.weights[i].tolist()
    points = scores.points[i].tolist()
    factors: list[Factor] = []
    missing: list[MissingFactor] = []
    for j, name in enumerate(scores.names):
        if math.isnan(subs[j]):
            missing.append(MissingFactor(name, _reason(scores.features, i, name, settings)))
            continue
        value = values[j]
        factors.append(
            Factor(
                name=name,
                value=None if math.isnan(value) else round(value, 4),
                score=round(subs[j], 4),
                weight=weights[j],
                contribution=points[j],
                detail=_detail(scores.features, i, name, settings),
            )
        )
    if math.isnan(score):
        return HealthResult(None, None, (), tuple(missing), NOT_ENOUGH_DATA)
    tier = tier_for(score, settings)
    return HealthResult(score, tier, tuple(factors), tuple(missing), summary_of(tier, biggest_drag))


def briefs(scores: ExpertScores, settings: HealthSettings) -> list[HealthResult]:
    """Every customer's brief result: the score, tier and summary of :func:`explain`, without
    the factors, with the per-customer work reduced to the summary's words."""
    n = scores.score.shape[0]
    rows = np.arange(n)
    worst = scores.order[:, 0]
    present = (~np.isnan(scores.subscores[rows, worst])).tolist()
    drags = scores.drags[rows, worst].tolist()
    worst_names = [scores.names[j] for j in worst.tolist()]
    out = []
    for i, score in enumerate(scores.score.tolist()):
        if math.isnan(score):
            out.append(HealthResult(None, None, (), (), NOT_ENOUGH_DATA))
            continue
        tier = tier_for(score, settings)
        biggest_drag = (
            (drags[i], partial(_detail, scores.features, i, worst_names[i], settings))
            if present[i]
            else None
        )
        out.append(HealthResult(score, tier, (), (), summary_of(tier, biggest_drag)))
    return out


def summary_of(tier: str, biggest_drag: tuple[float, Callable[[], str]] | None) -> str:
    """The biggest drag (points lost, and its detail in words, built only when said) in words,
    or "looks healthy" when the customer is healthy and nothing costs SUMMARY_DRAG_POINTS."""
    if biggest_drag is None:
        return "looks healthy" if tier == "healthy" else "no factor stands out"
    points, detail = biggest_drag
    if tier == "healthy":
        return "looks healthy" if points < SUMMARY_DRAG_POINTS else f"looks healthy, but {detail()}"
    return detail()


def score_customer(inputs: HealthInputs, settings: HealthSettings) -> HealthResult:
    """One customer's expert score, through the same feature builder and factors as a chunk.

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
    h = histories_from_inputs(
        as_of=as_of,
        status=inputs.status,
        first_seen_at=inputs.first_seen_at,
        subscribed_at=inputs.subscribed_at,
        paused_until=inputs.paused_until,
        cancel_effective_at=inputs.cancel_effective_at,
        last_usage_at=inputs.last_usage_at,
        usage_by_day=inputs.usage_by_day,
        purchase_days=inputs.purchase_days,
        purchase_times=[inputs.last_purchase_at] if inputs.last_purchase_at else [],
        payment_failures=inputs.payment_failures,
        payment_window_days=settings.payments.window_days,
        purchase_window_days=settings.purchases.frequency_window_days,
        nps_latest=inputs.nps_latest,
        nps_previous=inputs.nps_previous,
        nps_at=inputs.nps_at,
        reference=inputs.reference,
        tenant_interval=inputs.tenant_interval,
        usage_days=settings.usage_days_needed(),
    )
    return explain(expert_scores(build_features(h), settings), 0, settings)


# -- words --------------------------------------------------------------------------------------


def _reason(f: Features, i: int, name: str, settings: HealthSettings) -> str:
    h = f.histories
    status = int(h.status[i])
    age = float(f["age_days"][i])
    if name.startswith("usage_") and status == STATUS_CODES["paused"]:
        return PAUSED_USAGE
    if name in ("usage_trend", "usage_frequency", "usage_level"):
        if age < settings.usage.new_customer_days:
            return f"customer is {_days_phrase(age)} old; too new to judge"
        if name == "usage_level":
            return "no customer of this tenant used the product in the last 90 days"
        return "no complete day of usage history yet"
    if name in ("purchase_recency", "purchase_frequency"):
        if f["subscriber"][i] > 0:
            return SUBSCRIBER_PURCHASES
        if f["purchase_days"][i] == 0:
            return "no purchase yet"
        return "one purchase and no buying rhythm in this tenant yet"
    if name == "payment_health":
        return "no payments to judge"
    if name == "subscription_state":
        return "no subscription"
    if name == "sentiment":
        if math.isnan(h.nps[i]):
            return "no NPS answer"
        return f"latest NPS answer is older than {settings.sentiment.max_age_days} days"
    return "no data"


def _detail(f: Features, i: int, name: str, settings: HealthSettings) -> str:
    h = f.histories
    if name == "usage_recency":
        since = f["days_since_use"][i]
        if math.isnan(since):
            return f"no usage since first seen {_ago(float(f['age_days'][i]))}"
        if h.usage[i, 0] > 0 and since < 1:
            return "used today" if since >= 1 / 24 else "last used just now"
        return f"last used {_ago(float(since))}"
    if name == "usage_trend":
        return _trend_detail(f, i, settings)
    if name == "usage_frequency":
        days = int(min(settings.usage.frequency_window_days, _first_offset(f, i)))
        active = int((h.usage[i, 1 : days + 1] > 0).sum())
        return f"active on {active} of the last {days} days"
    if name == "usage_level":
        pct = float(f["usage_percentile"][i])
        used = int(f["usage_28d"][i])
        return f"used {used:,} times in 4 weeks: more than {pct * 100:.0f}% of active customers"
    if name == "purchase_recency":
        since = float(f["days_since_purchase"][i])
        if not math.isnan(h.tenant_interval):
            return (
                f"last purchase {_ago(since)}; customers here buy again within "
                f"{h.tenant_interval:.0f} days"
            )
        interval = float(f["purchase_interval"][i])
        return f"last purchase {_ago(since)}, usually every {interval:.0f} days"
    if name == "purchase_frequency":
        count = int(h.purchase_days_window[i])
        plural = "day" if count == 1 else "days"
        window = _span(settings.purchases.frequency_window_days)
        return f"{count} purchase {plural} in the last {window}"
    if name == "payment_health":
        n, recent = int(h.unrecovered[i]), int(h.failures[i])
        window = _span(settings.payments.window_days)
        if n == 0:
            if recent == 0:
                return f"no failed payment in the last {window}"
            return f"{recent} failed payment{'s' if recent > 1 else ''} recovered"
        latest = _ago(float(h.latest_unrecovered_days[i]))
        detail = (
            f"payment failed {latest}"
            if n == 1
            else f"{n} failed payments in the last {window}, latest {latest}"
        )
        return detail + (", never paid" if math.isnan(h.last_purchase_days[i]) else "")
    if name == "subscription_state":
        status = int(h.status[i])
        if status == STATUS_CODES["cancelled"]:
            return "subscription cancelled"
        if not math.isnan(h.pending_cancel_days[i]):
            return f"cancellation pending for {_date_in(h, float(h.pending_cancel_days[i]))}"
        if status == STATUS_CODES["paused"]:
            until = h.paused_until_days[i]
            if math.isnan(until):
                return "paused with no resume date"
            return f"paused until {_date_in(h, float(until))}"
        return "active subscription"
    if name == "sentiment":
        nps = int(h.nps[i])
        previous = h.nps_previous[i]
        if not math.isnan(previous) and previous > nps:
            return f"NPS fell from {int(previous)} to {nps}"
        return f"NPS {nps}"
    if name == "tenure":
        noun = "subscriber" if f["subscriber"][i] > 0 else "customer"
        return f"{noun} for {_days_phrase(float(f['tenure_days'][i]))}"
    return name


def _first_offset(f: Features, i: int) -> int:
    as_of = f.histories.as_of.astimezone(UTC)
    elapsed = (as_of - datetime.combine(as_of.date(), datetime.min.time(), UTC)).total_seconds()
    gap = float(f["age_days"][i]) - elapsed / 86_400
    return math.ceil(gap) if gap > 0 else 0


def _trend_detail(f: Features, i: int, settings: HealthSettings) -> str:
    usage = settings.usage
    u = f.histories.usage[i]
    recent_days = usage.trend_recent_days
    baseline_days = max(0, min(usage.trend_baseline_days, _first_offset(f, i) - recent_days))
    recent = float(u[1 : recent_days + 1].sum())
    baseline = float(u[recent_days + 1 : recent_days + baseline_days + 1].sum())
    previous = f"the previous {_span(baseline_days)}"
    if baseline == 0:
        if recent > 0:
            return f"usage started after none in {previous}"
        if u[0] > 0:
            return "usage started today"
        return f"no usage in the last {_span(baseline_days + recent_days)}"
    ratio = (recent / recent_days) / (baseline / baseline_days)
    change = round((ratio - 1) * 100)
    if change < 0:
        return f"usage down {-change}% vs {previous}"
    if change > 0:
        return f"usage up {change}% vs {previous}"
    return f"usage steady vs {previous}"


def _date_in(h: Histories, days: float) -> str:
    return (h.as_of.astimezone(UTC) + timedelta(days=days)).date().isoformat()


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
