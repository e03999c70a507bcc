"""Statistics of cancellation flows (pure: stdlib only).

Rates are proportions of flows whose outcome is known; the lift of offers is the difference
between the save rate of flows that showed them (treatment) and of comparable flows that showed
nothing (holdout), with a 95% confidence interval by Newcombe's hybrid score method (method 10
in R. G. Newcombe, "Interval estimation for the difference between independent proportions",
Statistics in Medicine 17, 1998): Wilson score intervals for each proportion, combined. Unlike
the normal approximation (Wald), it stays inside [-1, 1], does not collapse to a point when a
rate is 0 or 1, and keeps close to 95% coverage with the small counts a holdout produces.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Z95 = 1.959963984540054
"""The 97.5th percentile of the standard normal distribution (two-sided 95%)."""


def rate(successes: int, n: int) -> float | None:
    """successes / n, or None when n is 0 (no flow with a known outcome: no rate)."""
    if n < 0 or successes < 0 or successes > n:
        raise ValueError("need 0 <= successes <= n")
    return successes / n if n else None


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson's score interval for a proportion successes / n:

    (p + z²/2n ± z·sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n), with p = successes / n.
    """
    if n <= 0 or successes < 0 or successes > n:
        raise ValueError("need n > 0 and 0 <= successes <= n")
    p = successes / n
    z2 = z * z
    centre = p + z2 / (2 * n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    denominator = 1 + z2 / n
    low = max(0.0, (centre - half) / denominator)
    high = min(1.0, (centre + half) / denominator)
    # Exact at the ends: floating point must not put 0/n or n/n outside its own interval.
    if successes == 0:
        low = 0.0
    if successes == n:
        high = 1.0
    return low, high


@dataclass(frozen=True, kw_only=True)
class Lift:
    """Treatment save rate minus holdout save rate (``difference``), with its 95% interval
    [``low``, ``high``]; ``significant`` when the interval excludes 0."""

    treatment_rate: float
    holdout_rate: float
    difference: float
    low: float
    high: float

    @property
    def significant(self) -> bool:
        return self.low > 0 or self.high < 0


def lift(
    treatment_saved: int, treatment_n: int, holdout_saved: int, holdout_n: int, z: float = Z95
) -> Lift | None:
    """The difference p1 - p2 of treatment (p1 = treatment_saved / treatment_n) and holdout
    (p2 = holdout_saved / holdout_n) save rates, with Newcombe's hybrid score interval:

    low  = (p1 - p2) - sqrt((p1 - l1)² + (u2 - p2)²)
    high = (p1 - p2) + sqrt((u1 - p1)² + (p2 - l2)²)

    where [l1, u1] and [l2, u2] are the Wilson intervals of p1 and p2. None when either group
    has no flow with a known outcome.
    """
    if treatment_n <= 0 or holdout_n <= 0:
        return None
    p1, p2 = treatment_saved / treatment_n, holdout_saved / holdout_n
    l1, u1 = wilson_interval(treatment_saved, treatment_n, z)
    l2, u2 = wilson_interval(holdout_saved, holdout_n, z)
    difference = p1 - p2
    return Lift(
        treatment_rate=p1,
        holdout_rate=p2,
        difference=difference,
        low=max(-1.0, difference - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)),
        high=min(1.0, difference + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)),
    )
