"""The shared feature builder on hand-made histories, and the expert model's directions."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from app.health.features import (
    LEARNED_FEATURES,
    build_features,
    design_matrix,
    histories_from_inputs,
    percentile_in,
)
from app.health.model import HealthInputs, score_customer
from app.health.settings import HealthSettings

AS_OF = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)
TODAY = AS_OF.date()
DAY = timedelta(days=1)
REFERENCE = [0.0, 5, 10, 20, 40, 80, 160, 320]


def day(n: int) -> date:
    return TODAY - n * DAY


def features(**overrides: Any) -> dict[str, float]:
    base: dict[str, Any] = {
        "as_of": AS_OF,
        "status": "active",
        "first_seen_at": AS_OF - 200 * DAY,
        "subscribed_at": AS_OF - 150 * DAY,
        "reference": REFERENCE,
    }
    f = build_features(histories_from_inputs(**{**base, **overrides}))
    return {name: float(column[0]) for name, column in f.columns.items()}


def test_usage_counts_over_complete_days() -> None:
    usage = {day(0): 100, day(1): 1, day(7): 2, day(8): 4, day(28): 8, day(29): 16, day(90): 32}
    f = features(usage_by_day=usage)
    assert f["usage_today"] == 100
    assert f["usage_7d"] == 3
    assert f["usage_28d"] == 15
    assert f["usage_90d"] == 63
    assert f["active_days_28d"] == 4
    assert f["trend_7_28"] == pytest.approx(math.log1p(3) - math.log1p(28 / 4))
    assert f["trend_28_28"] == pytest.approx(math.log1p(15) - math.log1p(16))


def test_only_events_before_as_of_count() -> None:
    f = features(
        usage_by_day={TODAY + DAY: 50, day(3): 2},
        last_usage_at=AS_OF + timedelta(hours=1),
        purchase_times=[AS_OF - 10 * DAY, AS_OF, AS_OF + DAY],
        payment_failures=[AS_OF - DAY, AS_OF + timedelta(minutes=1)],
        nps_latest=3,
        nps_at=AS_OF + DAY,
    )
    assert f["usage_7d"] == 2
    assert f["days_since_use"] == pytest.approx(3 + 18 / 24)  # from the start of day(3)
    assert f["purchase_days"] == 1
    assert f["days_since_purchase"] == pytest.approx(10)
    assert f["failed_payments"] == 1
    assert math.isnan(f["nps"])


def test_todays_usage_counts_for_recency() -> None:
    f = features(usage_by_day={day(0): 1}, last_usage_at=AS_OF - timedelta(minutes=5))
    assert f["days_since_use"] == pytest.approx(5 / 1440)
    f = features(usage_by_day={day(0): 1})
    assert f["days_since_use"] == pytest.approx(18 / 24)  # some time today
    assert math.isnan(features()["days_since_use"])


def test_a_customer_whose_only_usage_is_today_is_not_told_of_no_usage() -> None:
    inputs = HealthInputs(
        as_of=AS_OF,
        status="active",
        first_seen_at=AS_OF - 60 * DAY,
        subscribed_at=AS_OF - 60 * DAY,
        usage_by_day={day(0): 3},
        last_usage_at=AS_OF - timedelta(minutes=2),
        reference=REFERENCE,
    )
    result = score_customer(inputs, HealthSettings())
    details = {f.name: f.detail for f in result.factors}
    assert details["usage_recency"] == "last used just now"
    assert details["usage_trend"] == "usage started today"
    assert not any("no usage in the last" in d for d in details.values())


def test_usage_percentile_against_the_tenant() -> None:
    assert percentile_in(
        __import__("numpy").array(REFERENCE), __import__("numpy").array([0.0, 20, 1000])
    ).tolist() == [pytest.approx(1 / 16), pytest.approx(3.5 / 8), 1.0]
    f = features(usage_by_day={day(d): 1 for d in range(1, 21)})
    assert f["usage_percentile"] == pytest.approx(3.5 / 8)
    assert math.isnan(features(reference=[])["usage_percentile"])


def test_tenure_mrr_and_subscription_state() -> None:
    f = features(mrr=4900, cancel_effective_at=AS_OF + 5 * DAY)
    assert f["tenure_days"] == pytest.approx(150)
    assert f["subscriber"] == 1
    assert f["mrr"] == 4900
    assert f["pending_cancel"] == 1
    lead = features(status="lead", subscribed_at=None)
    assert lead["subscriber"] == 0
    assert lead["tenure_days"] == pytest.approx(200)
    assert features(status="paused", paused_until=AS_OF + DAY)["paused"] == 1


def test_failed_payments_and_recovery() -> None:
    f = features(
        purchase_times=[AS_OF - 5 * DAY],
        payment_failures=[AS_OF - 10 * DAY, AS_OF - 2 * DAY, AS_OF - 40 * DAY],
    )
    assert f["failed_payments"] == 2  # the one 40 days ago is outside the window
    assert f["unrecovered_payments"] == 1  # the purchase 5 days ago recovered the older one


def test_nps_latest_and_change() -> None:
    f = features(nps_latest=4, nps_previous=9, nps_at=AS_OF - 3 * DAY)
    assert (f["nps"], f["nps_change"]) == (4, -5)


def test_purchase_features_with_the_interval_shrunk_toward_the_tenants() -> None:
    days = [day(70), day(50), day(30)]
    f = features(
        status="lead", subscribed_at=None, purchase_days=days, spend=3000, tenant_interval=40
    )
    assert f["purchase_days"] == 3
    assert f["purchase_days_90d"] == 3
    assert f["spend"] == 3000
    assert f["purchase_interval"] == pytest.approx((2 * 20 + 2 * 40) / 4)
    assert f["days_since_purchase"] == pytest.approx(30 + 18 / 24)
    once = features(status="lead", subscribed_at=None, purchase_days=[day(30)], tenant_interval=40)
    assert once["purchase_interval"] == 40
    assert once["overdue_ratio"] == pytest.approx((30 + 18 / 24) / 40)


def test_purchase_rate_recency_share_silence_and_spend_per_purchase() -> None:
    # Purchase days 70, 50 and 30 days before today's date; as_of is 18:00, purchases at 00:00.
    days = [day(70), day(50), day(30)]
    f = features(status="lead", subscribed_at=None, purchase_days=days, spend=3000)
    since_last = 30 + 18 / 24
    age = since_last + 40  # T: the last purchase plus the span from the first to the last
    assert f["purchase_rate"] == pytest.approx(3 / age * 30)
    assert f["purchase_recency_share"] == pytest.approx(since_last / age)
    assert f["purchase_silence"] == pytest.approx(2 * math.log((age + 30) / (40 + 30)))
    assert f["spend_per_purchase"] == pytest.approx(1000)
    assert f["repeat_buyer"] == 1
    # A one-time buyer: all of the buying life is since the purchase, no repeat to fall silent.
    once = features(status="lead", subscribed_at=None, purchase_days=[day(30)], spend=500)
    assert once["purchase_recency_share"] == pytest.approx(1.0)
    assert once["purchase_silence"] == 0
    assert once["repeat_buyer"] == 0
    assert once["spend_per_purchase"] == 500
    # The same three purchases, the last one longer ago: a longer silence, a lower rate.
    later = features(status="lead", subscribed_at=None, purchase_days=[day(90), day(70), day(50)])
    assert later["purchase_silence"] > f["purchase_silence"]
    assert later["purchase_rate"] < f["purchase_rate"]


def test_purchase_features_without_purchases_are_missing_and_designed_neutrally() -> None:
    f = features()
    assert math.isnan(f["purchase_rate"]) and math.isnan(f["purchase_recency_share"])
    assert math.isnan(f["purchase_silence"]) and math.isnan(f["spend_per_purchase"])
    assert f["repeat_buyer"] == 0
    h = histories_from_inputs(
        as_of=AS_OF, status="active", first_seen_at=AS_OF - 200 * DAY, reference=REFERENCE
    )
    x = design_matrix(build_features(h))
    column = {name: x[0, j] for j, (name, _) in enumerate(LEARNED_FEATURES)}
    assert column["purchase_rate"] == 0
    assert column["purchase_recency_share"] == 1
    assert column["purchase_silence"] == 0
    assert column["spend_per_purchase"] == 0
    # A stored model names its features: the design matrix follows that list and order.
    picked = design_matrix(build_features(h), ["repeat_buyer", "purchase_recency_share"])
    assert picked.tolist() == [[0.0, 1.0]]


# -- the expert model's directions ----------------------------------------------------------------


def subscriber(usage: dict[date, int], **overrides: Any) -> HealthInputs:
    last = max((d for d, q in usage.items() if q > 0), default=None)
    values: dict[str, Any] = {
        "as_of": AS_OF,
        "status": "active",
        "first_seen_at": AS_OF - 120 * DAY,
        "subscribed_at": AS_OF - 120 * DAY,
        "usage_by_day": usage,
        "last_usage_at": (
            datetime.combine(last, datetime.min.time(), UTC) + timedelta(hours=1) if last else None
        ),
        "reference": REFERENCE,
        **overrides,
    }
    return HealthInputs(**values)


def buyer(days: list[date], **overrides: Any) -> HealthInputs:
    values: dict[str, Any] = {
        "as_of": AS_OF,
        "status": "lead",
        "first_seen_at": AS_OF - 400 * DAY,
        "purchase_days": days,
        "tenant_interval": 45.0,
        **overrides,
    }
    return HealthInputs(**values)


def score(inputs: HealthInputs) -> float:
    result = score_customer(inputs, HealthSettings())
    assert result.score is not None
    return result.score


usage_histories = st.dictionaries(
    st.integers(min_value=1, max_value=60).map(day), st.integers(0, 50), max_size=40
)


@hsettings(max_examples=150)
@given(usage=usage_histories, when=st.integers(min_value=0, max_value=7), more=st.integers(1, 50))
def test_more_recent_usage_never_lowers_the_score(
    usage: dict[date, int], when: int, more: int
) -> None:
    added = dict(usage)
    added[day(when)] = added.get(day(when), 0) + more
    assert score(subscriber(added)) >= score(subscriber(usage))


@hsettings(max_examples=150)
@given(
    usage=usage_histories, idle=st.floats(min_value=0.01, max_value=60), sooner=st.floats(0, 0.99)
)
def test_a_more_recent_last_use_never_lowers_the_score(
    usage: dict[date, int], idle: float, sooner: float
) -> None:
    late = subscriber(usage, last_usage_at=AS_OF - idle * DAY)
    early = subscriber(usage, last_usage_at=AS_OF - idle * (1 - sooner) * DAY)
    assert score(early) >= score(late)


@given(level=st.integers(0, 400), more=st.integers(1, 400))
def test_a_higher_usage_level_never_lowers_the_score(level: int, more: int) -> None:
    def flat(total: int) -> dict[date, int]:
        return {day(d): total for d in range(1, 57)}

    assert score(subscriber(flat(level + more))) >= score(subscriber(flat(level)))


@hsettings(max_examples=150)
@given(
    gaps=st.lists(st.integers(min_value=1, max_value=120), min_size=0, max_size=8),
    since=st.integers(min_value=1, max_value=300),
    sooner=st.integers(min_value=0, max_value=300),
)
def test_more_purchases_and_a_more_recent_purchase_never_lower_the_score(
    gaps: list[int], since: int, sooner: int
) -> None:
    days = [day(since)]
    for gap in gaps:
        days.insert(0, days[0] - gap * DAY)
    days = [d for d in days if d > day(399)]
    base = score(buyer(days))
    # one more purchase day, anywhere in the last 400 days
    extra = day(1 + sooner)
    assert score(buyer(sorted({*days, extra}))) >= base
    # the same purchases, the last one more recent
    if since > 1:
        assert score(buyer([*days[:-1], day(since - 1)])) >= base
