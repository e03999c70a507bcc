"""Backtest arithmetic (pure): how well scores at an instant separated the customers who churned
afterwards from those who stayed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

TIERS = ("critical", "at_risk", "healthy")


def auc(churned_scores: Sequence[float], kept_scores: Sequence[float]) -> float | None:
    """Area under the ROC curve of "a lower score means churn": the probability that a random
    churner scored lower than a random customer who stayed, ties counting one half
    (Mann-Whitney U / (n1 * n2)). None unless both groups are non-empty.

    Computed from ranks in O(n log n), with average ranks for ties.
    """
    n1, n2 = len(churned_scores), len(kept_scores)
    if n1 == 0 or n2 == 0:
        return None
    # Rank everything by score descending: a churner ranked low (high score) hurts the AUC.
    labelled = sorted([(s, 1) for s in churned_scores] + [(s, 0) for s in kept_scores])
    rank_sum_kept = 0.0
    i = 0
    while i < len(labelled):
        j = i
        while j < len(labelled) and labelled[j][0] == labelled[i][0]:
            j += 1
        average_rank = (i + 1 + j) / 2  # ranks i+1 .. j, ascending by score
        rank_sum_kept += average_rank * sum(1 for k in range(i, j) if labelled[k][1] == 0)
        i = j
    # U for "kept scored higher than churned": kept ranks above churners.
    u_kept = rank_sum_kept - n2 * (n2 + 1) / 2
    return u_kept / (n1 * n2)


@dataclass(frozen=True)
class TierRow:
    tier: str
    customers: int
    churned: int

    @property
    def churn_rate(self) -> float | None:
        return self.churned / self.customers * 100 if self.customers else None


def by_tier(outcomes: Sequence[tuple[str | None, bool]]) -> list[TierRow]:
    """Customers and churners per tier, critical first; unscored customers are left out."""
    rows = []
    for tier in TIERS:
        members = [churned for t, churned in outcomes if t == tier]
        rows.append(TierRow(tier, len(members), sum(members)))
    return rows
