"""The one feature builder behind scoring, training and backtests (pure: numpy, no I/O, no clock).

A :class:`Histories` holds what is known about ``n`` customers at one instant ``T``, as aligned
arrays; :func:`build_features` turns it into named feature columns. Whoever fills a Histories
(``app.health.inputs`` from the database, :func:`histories_from_inputs` for one hand-made
customer) must include only events that occurred before ``T``.

Usage is a matrix of quantities per UTC day: column 0 is the part of ``T``'s own day before
``T`` ("today"), column ``k`` the complete day ``k`` days before. Counts over 7/28/90 days read
complete days only, so that a morning does not look like a decline; recency and "used today"
read column 0 too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]

# Complete days every Histories carries at least (the learned model's longest window).
USAGE_DAYS = 90
# Top features (by usage) of a tenant whose 28-day usage is a feature of its own.
TOP_FEATURES = 3
# One-time buyers borrow the tenant's interval; a repeat buyer's own mean interval is shrunk
# toward it as if the tenant's interval had been seen this many times.
INTERVAL_PRIOR_GAPS = 2.0
# Days added to both the purchase age and the purchase span in ``purchase_silence`` (the scale
# parameter alpha of BG/NBD, fixed rather than fitted: it only keeps new buyers' ratios finite).
SILENCE_SCALE_DAYS = 30.0

STATUS_CODES = {"lead": 0, "active": 1, "paused": 2, "cancelled": 3}
DAY_SECONDS = 86_400.0


@dataclass(frozen=True)
class Histories:
    """``n`` customers at instant ``as_of``. Times are in days before ``as_of`` (NaN: none).

    ``usage``: shape (n, USAGE_DAYS + 1) or wider, see the module docstring.
    ``feature_usage``: shape (n, len(features)), usage per named feature in [T - 28 d, T).
    ``reference``: sorted 28-day usage (complete days) of the tenant's population at ``T``
    (customers with usage in the 90 complete days before), the yardstick of the usage level.
    """

    as_of: datetime
    customer_ids: Sequence[str]
    status: npt.NDArray[np.int8]
    first_seen_days: Array
    usage: Array
    last_usage_days: Array
    subscribed_days: Array
    mrr: Array
    pending_cancel_days: Array
    paused_until_days: Array
    nps: Array
    nps_previous: Array
    nps_days: Array
    purchase_days: Array
    purchase_span_days: Array  # whole days from the first purchase day to the last
    last_purchase_days: Array
    purchase_days_90: Array
    purchase_days_window: Array
    spend: Array
    failures: Array
    unrecovered: Array
    latest_unrecovered_days: Array
    reference: Array
    tenant_interval: float
    features: Sequence[str] = ()
    feature_usage: Array = field(default_factory=lambda: np.zeros((0, 0)))

    @property
    def n(self) -> int:
        return len(self.customer_ids)


@dataclass(frozen=True)
class Features:
    """Named columns (each an array of length n) plus the histories they came from."""

    histories: Histories
    columns: dict[str, Array]

    def __getitem__(self, name: str) -> Array:
        return self.columns[name]


def window(usage: Array, first: int, last: int) -> Array:
    """Sum of usage over day columns ``first..last`` inclusive (1 = yesterday)."""
    return np.asarray(usage[:, first : last + 1].sum(axis=1), dtype=np.float64)


def percentile_in(reference: Array, values: Array) -> Array:
    """Share of ``reference`` below each value, ties counting half (0-1; NaN when empty)."""
    if reference.size == 0:
        return np.full(values.shape, np.nan)
    below = np.searchsorted(reference, values, side="left")
    upto = np.searchsorted(reference, values, side="right")
    return np.asarray((below + (upto - below) / 2) / reference.size, dtype=np.float64)


def days_since_use(h: Histories) -> Array:
    """Days since the last usage at or before T: the exact last instant when known, else the
    start of the latest day with usage in the matrix (today's usage counts); NaN: never."""
    used = h.usage > 0
    any_used = used.any(axis=1)
    latest_col = np.where(any_used, used.argmax(axis=1), -1)
    seconds_into_day = (
        h.as_of - datetime.combine(h.as_of.astimezone(UTC).date(), datetime.min.time(), UTC)
    ).total_seconds() / DAY_SECONDS
    from_matrix = np.where(any_used, latest_col + seconds_into_day, np.nan)
    return np.fmin(from_matrix, h.last_usage_days)


def build_features(h: Histories) -> Features:
    """Every feature of every customer (definitions: the comments here and docs/health.md)."""
    u = h.usage
    u7, u28, u90 = window(u, 1, 7), window(u, 1, 28), window(u, 1, 90)
    prev28 = window(u, 8, 35)
    before28 = window(u, 29, 56)
    active28 = np.asarray((u[:, 1:29] > 0).sum(axis=1), dtype=np.float64)
    since_use = days_since_use(h)
    age = h.first_seen_days
    subscriber = ~np.isnan(h.subscribed_days)
    tenure = np.where(subscriber, h.subscribed_days, age)
    n_buy = h.purchase_days
    own_gaps = np.maximum(n_buy - 1, 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        own_interval = np.where(own_gaps > 0, h.purchase_span_days / own_gaps, np.nan)
        prior = h.tenant_interval if not math.isnan(h.tenant_interval) else np.nan
        if math.isnan(prior):
            interval = own_interval
        else:
            interval = np.where(
                own_gaps > 0,
                (own_gaps * np.nan_to_num(own_interval) + INTERVAL_PRIOR_GAPS * prior)
                / (own_gaps + INTERVAL_PRIOR_GAPS),
                np.where(n_buy > 0, prior, np.nan),
            )
        overdue = h.last_purchase_days / np.maximum(interval, 1.0)
        # Days since the first purchase (the last one plus the span between them): BG/NBD's T.
        buyer_age = h.last_purchase_days + h.purchase_span_days
        purchase_rate = n_buy / np.maximum(buyer_age, 1.0) * 30.0
        recency_share = h.last_purchase_days / np.maximum(buyer_age, 1.0)
        silence = own_gaps * np.log(
            (buyer_age + SILENCE_SCALE_DAYS) / (h.purchase_span_days + SILENCE_SCALE_DAYS)
        )
        spend_per_purchase = np.where(n_buy > 0, h.spend / np.maximum(n_buy, 1.0), np.nan)
    status = h.status
    columns: dict[str, Array] = {
        "usage_today": np.asarray(u[:, 0], dtype=np.float64),
        "usage_7d": u7,
        "usage_28d": u28,
        "usage_90d": u90,
        "active_days_28d": active28,
        "days_since_use": since_use,
        # log of (rate over the last 7 days + 1) / (rate over the 28 before + 1), per week
        "trend_7_28": np.log1p(u7) - np.log1p(prev28 / 4),
        "trend_28_28": np.log1p(u28) - np.log1p(before28),
        "usage_percentile": percentile_in(h.reference, u28),
        "tenure_days": tenure,
        "age_days": age,
        "mrr": h.mrr,
        "subscriber": subscriber.astype(np.float64),
        "paused": (status == STATUS_CODES["paused"]).astype(np.float64),
        "pending_cancel": (~np.isnan(h.pending_cancel_days)).astype(np.float64),
        "failed_payments": h.failures,
        "unrecovered_payments": h.unrecovered,
        "nps": h.nps,
        "nps_change": h.nps - h.nps_previous,
        "purchase_days": n_buy,
        "purchase_days_90d": h.purchase_days_90,
        "days_since_purchase": h.last_purchase_days,
        "purchase_interval": interval,
        "overdue_ratio": overdue,
        "spend": h.spend,
        "purchase_rate": purchase_rate,
        "purchase_recency_share": recency_share,
        "purchase_silence": silence,
        "spend_per_purchase": spend_per_purchase,
        "repeat_buyer": (n_buy >= 2).astype(np.float64),
    }
    for k in range(TOP_FEATURES):
        columns[f"feature_{k + 1}_28d"] = (
            h.feature_usage[:, k] if k < h.feature_usage.shape[1] else np.zeros(h.n)
        )
    return Features(h, columns)


# Features the learned model reads, and how each is transformed before standardising: counts
# and amounts are heavy-tailed (log1p); NaN (no data) becomes the column's neutral value plus
# an indicator where absence itself is informative.
LOG1P = "log1p"
PLAIN = "plain"
LEARNED_FEATURES: tuple[tuple[str, str], ...] = (
    ("usage_7d", LOG1P),
    ("usage_28d", LOG1P),
    ("usage_90d", LOG1P),
    ("active_days_28d", PLAIN),
    ("days_since_use", LOG1P),
    ("trend_7_28", PLAIN),
    ("trend_28_28", PLAIN),
    ("usage_percentile", PLAIN),
    ("feature_1_28d", LOG1P),
    ("feature_2_28d", LOG1P),
    ("feature_3_28d", LOG1P),
    ("tenure_days", LOG1P),
    ("mrr", LOG1P),
    ("subscriber", PLAIN),
    ("paused", PLAIN),
    ("pending_cancel", PLAIN),
    ("failed_payments", LOG1P),
    ("unrecovered_payments", LOG1P),
    ("nps", PLAIN),
    ("nps_change", PLAIN),
    ("purchase_days", LOG1P),
    ("purchase_days_90d", LOG1P),
    ("days_since_purchase", LOG1P),
    ("overdue_ratio", LOG1P),
    ("spend", LOG1P),
    ("purchase_rate", LOG1P),
    ("purchase_recency_share", PLAIN),
    ("purchase_silence", LOG1P),
    ("spend_per_purchase", LOG1P),
    ("repeat_buyer", PLAIN),
)

# Value standing in for "no data" before the transform (days since: a long time; NPS: neutral).
# Days since use is capped at the usage window: beyond it, training cutoffs cannot tell.
MAX_DAYS_SINCE_USE = float(USAGE_DAYS + 1)
MISSING_AS: dict[str, float] = {
    "days_since_use": MAX_DAYS_SINCE_USE,
    "days_since_purchase": 730.0,
    "overdue_ratio": 10.0,
    "purchase_recency_share": 1.0,
    "nps": 7.0,
    "nps_change": 0.0,
    "usage_percentile": 0.0,
}


def design_matrix(features: Features, names: Sequence[str] | None = None) -> Array:
    """The learned model's inputs, shape (n, len(names)), before standardising: the columns
    ``names`` (default: every one of LEARNED_FEATURES; a stored model passes the features it
    was fitted on, so models fitted before a feature was added keep scoring)."""
    transforms = dict(LEARNED_FEATURES)
    chosen = [name for name, _ in LEARNED_FEATURES] if names is None else list(names)
    out = np.empty((features.histories.n, len(chosen)))
    for j, name in enumerate(chosen):
        transform = transforms[name]
        column = np.nan_to_num(features[name], nan=MISSING_AS.get(name, 0.0))
        if name == "days_since_use":
            column = np.minimum(column, MAX_DAYS_SINCE_USE)
        if transform == LOG1P:
            column = np.log1p(np.maximum(column, 0.0))
        out[:, j] = column
    return out


# -- one customer by hand (unit tests, the reference behaviour) --------------------------------


def _days(delta: timedelta) -> float:
    return delta.total_seconds() / DAY_SECONDS


def histories_from_inputs(
    *,
    as_of: datetime,
    status: str,
    first_seen_at: datetime,
    subscribed_at: datetime | None = None,
    mrr: int = 0,
    paused_until: datetime | None = None,
    cancel_effective_at: datetime | None = None,
    last_usage_at: datetime | None = None,
    usage_by_day: Mapping[date, int] | None = None,
    purchase_days: Sequence[date] = (),
    purchase_times: Sequence[datetime] = (),
    spend: int = 0,
    payment_failures: Sequence[datetime] = (),
    payment_window_days: int = 30,
    purchase_window_days: int = 90,
    nps_latest: int | None = None,
    nps_previous: int | None = None,
    nps_at: datetime | None = None,
    reference: Sequence[float] = (),
    tenant_interval: float | None = None,
    feature_usage: Mapping[str, float] | None = None,
    usage_days: int = USAGE_DAYS,
) -> Histories:
    """One customer's Histories from plain values; anything dated at or after ``as_of`` is
    dropped, as the database reads do."""
    as_of = as_of.astimezone(UTC)
    if status == "paused" and paused_until is not None and paused_until <= as_of:
        status = "active"  # the pause is over (as app.customers.fold.project resolves it)
    today = as_of.date()
    width = max(usage_days, USAGE_DAYS) + 1
    usage = np.zeros((1, width))
    for day, quantity in (usage_by_day or {}).items():
        back = (today - day).days
        if 0 <= back < width and quantity > 0:
            usage[0, back] += quantity

    def ago(moment: datetime | None) -> float:
        return _days(as_of - moment) if moment is not None and moment < as_of else math.nan

    def ahead(moment: datetime | None) -> float:
        return _days(moment - as_of) if moment is not None and moment > as_of else math.nan

    days = sorted(
        {d for d in purchase_days if d <= today}
        | {t.astimezone(UTC).date() for t in purchase_times if t < as_of}
    )
    last_times = [t for t in purchase_times if t < as_of]
    last_purchase = max(last_times) if last_times else None
    if days:
        day_start = datetime.combine(days[-1], datetime.min.time(), UTC)
        if last_purchase is None or day_start > last_purchase:
            last_purchase = min(day_start, as_of)
    window_start = as_of - timedelta(days=payment_window_days)
    failures = [f for f in payment_failures if window_start <= f < as_of]
    unrecovered = [f for f in failures if last_purchase is None or f > last_purchase]
    subscribed = subscribed_at is not None and subscribed_at <= as_of and status != "lead"
    pending = ahead(cancel_effective_at) if status in ("active", "paused") else math.nan
    nps_ok = nps_latest is not None and (nps_at is None or nps_at < as_of)
    names = list(feature_usage or {})
    return Histories(
        as_of=as_of,
        customer_ids=["c"],
        status=np.array([STATUS_CODES[status]], dtype=np.int8),
        first_seen_days=np.array([max(0.0, _days(as_of - first_seen_at))]),
        usage=usage,
        last_usage_days=np.array([ago(last_usage_at)]),
        subscribed_days=np.array(
            [_days(as_of - subscribed_at) if subscribed and subscribed_at else math.nan]
        ),
        mrr=np.array([float(mrr)]),
        pending_cancel_days=np.array([pending]),
        paused_until_days=np.array([ahead(paused_until) if status == "paused" else math.nan]),
        nps=np.array([float(nps_latest) if nps_ok and nps_latest is not None else math.nan]),
        nps_previous=np.array(
            [float(nps_previous) if nps_ok and nps_previous is not None else math.nan]
        ),
        nps_days=np.array([ago(nps_at) if nps_ok and nps_at is not None else math.nan]),
        purchase_days=np.array([float(len(days))]),
        purchase_span_days=np.array([float((days[-1] - days[0]).days) if days else 0.0]),
        last_purchase_days=np.array([ago(last_purchase) if last_purchase else math.nan]),
        purchase_days_90=np.array([float(sum(1 for d in days if (today - d).days < 90))]),
        purchase_days_window=np.array(
            [float(sum(1 for d in days if (today - d).days < purchase_window_days))]
        ),
        spend=np.array([float(spend)]),
        failures=np.array([float(len(failures))]),
        unrecovered=np.array([float(len(unrecovered))]),
        latest_unrecovered_days=np.array([ago(max(unrecovered)) if unrecovered else math.nan]),
        reference=np.sort(np.asarray(reference, dtype=np.float64)),
        tenant_interval=math.nan if tenant_interval is None else float(tenant_interval),
        features=names,
        feature_usage=np.array([[float((feature_usage or {})[k]) for k in names]]).reshape(
            1, len(names)
        ),
    )
