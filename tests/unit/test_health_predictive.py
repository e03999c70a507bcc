"""The default model must rank customers about to churn below those who stay.

A seeded synthetic population: every customer uses the product on a share of days with a
personal intensity; churners' usage fades over the weeks before their cancellation (a few of
them have already asked to cancel, fail a payment or answer NPS badly), stayers' usage wobbles
without a trend. This is a guard on the model's shape, not the backtest over real event data.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

from app.health.model import HealthInputs, score_customer
from app.health.settings import HealthSettings

AS_OF = datetime(2026, 11, 20, 12, tzinfo=UTC)
DAY = timedelta(days=1)


def synthetic_customer(rng: random.Random, churner: bool) -> HealthInputs:
    subscribed = AS_OF - rng.uniform(20, 500) * DAY
    active_share = rng.uniform(0.15, 0.9)
    intensity = rng.lognormvariate(1, 0.8)
    churn_in = rng.uniform(1, 30)  # days after as_of
    fade = rng.uniform(14, 60)  # days over which a churner's usage fades out
    wobble = rng.uniform(0.7, 1.3)
    usage: dict[date, int] = {}
    for back in range(1, 70):
        day = AS_OF.date() - back * DAY
        if day < subscribed.date():
            break
        level = min(1.0, (back + churn_in) / fade) ** 1.5 if churner else wobble
        if rng.random() < active_share * min(1.0, level):
            usage[day] = 1 + int(rng.expovariate(1 / (intensity * level + 0.01)))
    last_day = max(usage, default=None)
    nps = None
    if rng.random() < 0.4:
        nps = max(0, min(10, round(rng.gauss(5.5 if churner else 8, 2))))
    return HealthInputs(
        as_of=AS_OF,
        status="active",
        first_seen_at=subscribed,
        subscribed_at=subscribed,
        cancel_effective_at=AS_OF + churn_in * DAY if churner and rng.random() < 0.25 else None,
        last_usage_at=(
            datetime.combine(last_day, datetime.min.time(), tzinfo=UTC) + 14 * DAY / 24
            if last_day
            else None
        ),
        usage_by_day=usage,
        purchase_days=[(AS_OF - 12 * DAY).date()],
        last_purchase_at=AS_OF - 12 * DAY,
        payment_failures=[AS_OF - 3 * DAY] if rng.random() < (0.2 if churner else 0.04) else [],
        nps_latest=nps,
        nps_at=AS_OF - 20 * DAY if nps is not None else None,
    )


def test_default_model_separates_churners_from_stayers() -> None:
    rng = random.Random(20261120)
    settings = HealthSettings()
    churners = [score_customer(synthetic_customer(rng, True), settings) for _ in range(150)]
    stayers = [score_customer(synthetic_customer(rng, False), settings) for _ in range(450)]

    churn_scores = [r.score for r in churners if r.score is not None]
    stay_scores = [r.score for r in stayers if r.score is not None]
    assert len(churn_scores) == 150
    assert len(stay_scores) == 450
    # AUC: the probability that a churner scores below a stayer (ties count half)
    wins = sum(1.0 if c < s else 0.5 if c == s else 0.0 for c in churn_scores for s in stay_scores)
    auc = wins / (len(churn_scores) * len(stay_scores))
    assert auc >= 0.8, auc

    rates = {}
    for tier in ("critical", "at_risk", "healthy"):
        churned = sum(r.tier == tier for r in churners)
        stayed = sum(r.tier == tier for r in stayers)
        assert churned + stayed > 0, tier
        rates[tier] = churned / (churned + stayed)
    assert rates["critical"] > rates["at_risk"] > rates["healthy"], rates
