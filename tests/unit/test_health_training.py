"""Choosing the learned model's regularisation on the training cutoffs alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from app.health import learned
from app.health.features import LEARNED_FEATURES
from app.health.training import Examples, choose_c

START = datetime(2026, 1, 5, tzinfo=UTC)


def examples(cutoffs: int, per_cutoff: int = 200, seed: int = 7) -> Examples:
    rng = np.random.default_rng(seed)
    n = cutoffs * per_cutoff
    x = rng.normal(size=(n, len(LEARNED_FEATURES)))
    churned = rng.random(n) < 1 / (1 + np.exp(-(2 * x[:, 0] - 1)))
    cutoff = np.repeat(np.arange(cutoffs), per_cutoff).astype(np.float64)
    return Examples([], x, churned.astype(np.float64), np.ones(n), cutoff, np.full(n, np.nan))


def weekly(count: int) -> list[datetime]:
    return [START + timedelta(days=7 * k) for k in range(count)]


def test_c_is_chosen_from_the_grid_on_the_latest_training_cutoffs() -> None:
    c, reason = choose_c(examples(12), weekly(12), horizon_days=30)
    assert c in learned.C_GRID
    assert "chosen on the training cutoffs" in reason


def test_c_reads_only_the_cutoffs_it_is_given_and_ignores_labels_of_later_examples() -> None:
    # Examples past the training cutoffs (indices 12..) must not change the choice.
    given = examples(12)
    extra = examples(16, seed=8)
    later = extra.cutoff >= 12
    both = Examples(
        [],
        np.concatenate([given.x, extra.x[later]]),
        np.concatenate([given.y, 1 - extra.y[later]]),
        np.ones(given.y.size + int(later.sum())),
        np.concatenate([given.cutoff, extra.cutoff[later]]),
        np.full(given.y.size + int(later.sum()), np.nan),
    )
    assert choose_c(both, weekly(12), 30) == choose_c(given, weekly(12), 30)


def test_too_few_training_cutoffs_keep_the_default() -> None:
    c, reason = choose_c(examples(3), weekly(3), horizon_days=30)
    assert c == learned.C
    assert "too few" in reason
