import random

import pytest

from app.health.backtest import auc, by_tier


def brute_force_auc(churned: list[float], kept: list[float]) -> float:
    pairs = [(c, k) for c in churned for k in kept]
    return sum(1.0 if c < k else 0.5 if c == k else 0.0 for c, k in pairs) / len(pairs)


def test_perfect_inverse_and_chance_separation() -> None:
    assert auc([10, 20], [80, 90]) == 1.0
    assert auc([80, 90], [10, 20]) == 0.0
    assert auc([50, 50], [50, 50]) == 0.5


def test_empty_groups_have_no_auc() -> None:
    assert auc([], [1.0]) is None
    assert auc([1.0], []) is None


@pytest.mark.parametrize("seed", range(20))
def test_rank_formula_matches_the_pairwise_definition(seed: int) -> None:
    rnd = random.Random(seed)
    churned = [float(rnd.randrange(0, 20)) for _ in range(rnd.randrange(1, 30))]
    kept = [float(rnd.randrange(0, 20)) for _ in range(rnd.randrange(1, 30))]
    assert auc(churned, kept) == pytest.approx(brute_force_auc(churned, kept))


def test_tier_table_counts_and_rates() -> None:
    rows = by_tier([("critical", True), ("critical", False), ("healthy", False), (None, True)])
    assert [(r.tier, r.customers, r.churned, r.churn_rate) for r in rows] == [
        ("critical", 2, 1, 50.0),
        ("at_risk", 0, 0, None),
        ("healthy", 1, 0, 0.0),
    ]
