"""Filling :class:`app.health.features.Histories` from the database, a chunk of customers at a
time: three set-based statements per chunk (usage days, today's and per-feature usage events,
purchases with failed payments) plus the tenant's yardsticks, cached per tenant and day."""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import NamedTuple

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from app.customers import repository as customers
from app.health import repository
from app.health.features import STATUS_CODES, USAGE_DAYS, Histories
from app.health.settings import HealthSettings

DAY = timedelta(days=1)
REFERENCE_DAYS = 90
LEVEL_DAYS = 28
REFERENCE_SAMPLE = 10_000


class Lifecycle(NamedTuple):
    """A customer's subscription facts at the instant scored (resolved by the caller). A named
    tuple: one is made per customer per scoring, and it is the cheapest immutable record."""

    status: str
    first_seen_at: datetime
    subscribed_at: datetime | None
    plan_mrr: int
    paused_until: datetime | None
    cancel_effective_at: datetime | None
    nps_latest: int | None
    nps_previous: int | None
    nps_at: datetime | None
    last_usage_at: datetime | None


@dataclass(frozen=True)
class Yardsticks:
    reference: np.ndarray
    tenant_interval: float


# Per process: (tenant, day) -> (computed at, yardsticks). They read only days before ``day``,
# so a cached value stays true for that day; the time limit bounds how late backfilled history
# shows up.
_YARDSTICKS: dict[tuple[uuid.UUID, date], tuple[float, Yardsticks]] = {}
YARDSTICK_TTL_S = 600.0
_YARDSTICKS_MAX = 1024


def day_start(moment: datetime) -> datetime:
    return datetime.combine(moment.astimezone(UTC).date(), datetime.min.time(), UTC)


async def yardsticks(session: AsyncSession, tenant_id: uuid.UUID, at: datetime) -> Yardsticks:
    """The tenant's usage reference and typical purchase interval for ``at``'s day, from
    complete days before it only."""
    day = at.astimezone(UTC).date()
    key = (tenant_id, day)
    hit = _YARDSTICKS.get(key)
    if hit is not None and time.monotonic() - hit[0] < YARDSTICK_TTL_S:
        return hit[1]
    # A sample of a large tenant places a customer's usage within about a percentile point.
    among = await customers.sample_customer_ids(session, tenant_id, REFERENCE_SAMPLE)
    reference = await repository.usage_reference(
        session, tenant_id, day - REFERENCE_DAYS * DAY, day - LEVEL_DAYS * DAY, day, among
    )
    interval = await repository.tenant_interval(session, tenant_id, day_start(at), among)
    found = Yardsticks(
        reference=np.sort(np.asarray(reference, dtype=np.float64)),
        tenant_interval=math.nan if interval is None else interval,
    )
    if len(_YARDSTICKS) >= _YARDSTICKS_MAX:
        _YARDSTICKS.clear()
    _YARDSTICKS[key] = (time.monotonic(), found)
    return found


def forget_yardsticks(tenant_id: uuid.UUID) -> None:
    for key in [k for k in _YARDSTICKS if k[0] == tenant_id]:
        del _YARDSTICKS[key]


def _days_before(at: datetime, moments: Sequence[datetime | None]) -> np.ndarray:
    return np.array(
        [
            (at - m).total_seconds() / 86_400 if m is not None and m < at else math.nan
            for m in moments
        ]
    )


def _days_after(at: datetime, moments: Sequence[datetime | None]) -> np.ndarray:
    return np.array(
        [
            (m - at).total_seconds() / 86_400 if m is not None and m > at else math.nan
            for m in moments
        ]
    )


async def load_histories(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    at: datetime,
    lifecycles: dict[str, Lifecycle],
    settings: HealthSettings,
    *,
    features: Sequence[str] = (),
    marks: Yardsticks | None = None,
    dense: bool = False,
) -> Histories:
    """Everything known about ``lifecycles``' customers before ``at``, in id order. ``dense``:
    they are every customer of the tenant between the smallest and the largest id."""
    ids = sorted(lifecycles)
    n = len(ids)
    at = at.astimezone(UTC)
    today = at.date()
    start = day_start(at)
    width = max(USAGE_DAYS, settings.usage_days_needed(), 56) + 1
    marks = marks or await yardsticks(session, tenant_id, at)

    usage = np.zeros((n, width))
    row_of = {customer_id: i for i, customer_id in enumerate(ids)}
    days = await repository.usage_matrix(
        session, tenant_id, ids, today, today - (width - 1) * DAY, dense
    )
    if days.ids:
        # ids are sorted, so a binary search maps each owner to its row (a dense read may
        # return customers not asked for: they are dropped).
        sorted_ids = np.asarray(ids)
        owner_ids = np.asarray(days.ids)
        owner_rows = np.minimum(np.searchsorted(sorted_ids, owner_ids), n - 1)
        keep = np.repeat(sorted_ids[owner_rows] == owner_ids, days.counts)
        rows = np.repeat(owner_rows, days.counts)
        usage[rows[keep], days.cols[keep]] = days.quantities[keep]  # one entry per day

    names = list(features)
    feature_usage = np.zeros((n, len(names)))
    position = {name: k for k, name in enumerate(names)}
    since = at - LEVEL_DAYS * DAY if names else start
    for r in await repository.usage_events(session, tenant_id, ids, at, start, since, dense):
        i = row_of.get(r["customer_id"])
        if i is None:
            continue
        usage[i, 0] += r["today"] or 0
        k = position.get(r["feature"])
        if k is not None:
            feature_usage[i, k] += r["recent"] or 0

    purchase_days = np.zeros(n)
    span = np.zeros(n)
    last_purchase = np.full(n, np.nan)
    spend = np.zeros(n)
    days_90 = np.zeros(n)
    days_window = np.zeros(n)
    failures = np.zeros(n)
    unrecovered = np.zeros(n)
    latest_unrecovered = np.full(n, np.nan)
    purchase_window = settings.purchases.frequency_window_days
    for r in await repository.purchases_and_failures(
        session,
        tenant_id,
        ids,
        at,
        start - 89 * DAY,
        start - (purchase_window - 1) * DAY,
        at - settings.payments.window_days * DAY,
        dense,
    ):
        i = row_of.get(r["customer_id"])
        if i is None:
            continue
        if r["days"]:
            purchase_days[i] = r["days"]
            span[i] = r["span"]
            last_purchase[i] = (at - r["last_at"]).total_seconds() / 86_400
            spend[i] = float(r["spend"])
            days_90[i] = r["days_90"]
            days_window[i] = r["days_window"]
        if r["failures"]:
            failures[i] = r["failures"]
            unrecovered[i] = r["unrecovered"]
            if r["latest_unrecovered"] is not None:
                latest_unrecovered[i] = (at - r["latest_unrecovered"]).total_seconds() / 86_400

    lives = [lifecycles[cid] for cid in ids]
    status = np.array([STATUS_CODES[life.status] for life in lives], dtype=np.int8)
    active_or_paused = np.isin(status, (STATUS_CODES["active"], STATUS_CODES["paused"]))
    subscribed = [life.subscribed_at if life.status != "lead" else None for life in lives]
    nps_known = [
        life.nps_latest is not None and (life.nps_at is None or life.nps_at < at) for life in lives
    ]
    return Histories(
        as_of=at,
        customer_ids=ids,
        status=status,
        first_seen_days=np.maximum(0.0, _days_before(at, [life.first_seen_at for life in lives])),
        usage=usage,
        last_usage_days=_days_before(at, [life.last_usage_at for life in lives]),
        subscribed_days=_days_before(at, subscribed),
        mrr=np.array([float(life.plan_mrr or 0) for life in lives]),
        pending_cancel_days=np.where(
            active_or_paused, _days_after(at, [life.cancel_effective_at for life in lives]), np.nan
        ),
        paused_until_days=np.where(
            status == STATUS_CODES["paused"],
            _days_after(at, [life.paused_until for life in lives]),
            np.nan,
        ),
        nps=np.array(
            [
                float(life.nps_latest) if ok and life.nps_latest is not None else math.nan
                for life, ok in zip(lives, nps_known, strict=True)
            ]
        ),
        nps_previous=np.array(
            [
                float(life.nps_previous) if ok and life.nps_previous is not None else math.nan
                for life, ok in zip(lives, nps_known, strict=True)
            ]
        ),
        nps_days=_days_before(at, [life.nps_at for life in lives]),
        purchase_days=purchase_days,
        purchase_span_days=span,
        last_purchase_days=last_purchase,
        purchase_days_90=days_90,
        purchase_days_window=days_window,
        spend=spend,
        failures=failures,
        unrecovered=unrecovered,
        latest_unrecovered_days=latest_unrecovered,
        reference=marks.reference,
        tenant_interval=marks.tenant_interval,
        features=names,
        feature_usage=feature_usage,
    )
