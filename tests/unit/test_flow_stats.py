"""Save rates and the lift of offers over the holdout (pure)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.offers.stats import lift, rate, wilson_interval


def test_rate_is_none_without_data_and_checks_its_inputs() -> None:
    assert rate(0, 0) is None
    assert rate(3, 4) == 0.75
    for successes, n in ((5, 4), (-1, 4), (0, -1)):
        with pytest.raises(ValueError, match="successes"):
            rate(successes, n)


# Wilson intervals and differences from R. G. Newcombe, Statistics in Medicine 17 (1998):
# single proportions (Table I, method 3) and differences (Table II, method 10).
@pytest.mark.parametrize(
    ("successes", "n", "low", "high"),
    [
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_interval_matches_published_values(
    successes: int, n: int, low: float, high: float
) -> None:
    assert wilson_interval(successes, n) == pytest.approx((low, high), abs=1e-4)


@pytest.mark.parametrize(
    ("a", "m", "b", "n", "low", "high"),
    [
        (56, 70, 48, 80, 0.0524, 0.3339),
        (9, 10, 3, 10, 0.1705, 0.8090),
        (6, 7, 2, 7, 0.0582, 0.8062),
        (5, 56, 0, 29, -0.0381, 0.1926),
        (0, 10, 0, 20, -0.1611, 0.2775),
        (0, 10, 0, 10, -0.2775, 0.2775),
        (10, 10, 0, 20, 0.6791, 1.0),
    ],
)
def test_lift_interval_matches_newcombe_method_10(
    a: int, m: int, b: int, n: int, low: float, high: float
) -> None:
    result = lift(a, m, b, n)
    assert result is not None
    assert result.difference == pytest.approx(a / m - b / n)
    assert (result.low, result.high) == pytest.approx((low, high), abs=1e-4)
    assert result.significant == (low > 0 or high < 0)


def test_lift_needs_both_groups() -> None:
    assert lift(3, 5, 0, 0) is None
    assert lift(0, 0, 1, 4) is None


@given(
    st.integers(min_value=1, max_value=500).flatmap(
        lambda n: st.tuples(st.integers(min_value=0, max_value=n), st.just(n))
    ),
    st.integers(min_value=1, max_value=500).flatmap(
        lambda n: st.tuples(st.integers(min_value=0, max_value=n), st.just(n))
    ),
)
def test_lift_interval_contains_the_difference_and_stays_in_range(
    treatment: tuple[int, int], holdout: tuple[int, int]
) -> None:
    result = lift(*treatment, *holdout)
    assert result is not None
    assert -1.0 <= result.low <= result.difference <= result.high <= 1.0


@given(
    st.integers(min_value=1, max_value=1000).flatmap(
        lambda n: st.tuples(st.integers(min_value=0, max_value=n), st.just(n))
    )
)
def test_wilson_contains_the_estimate(sample: tuple[int, int]) -> None:
    successes, n = sample
    low, high = wilson_interval(successes, n)
    assert 0.0 <= low <= successes / n <= high <= 1.0


def test_more_data_narrows_the_interval() -> None:
    small = lift(6, 10, 3, 10)
    large = lift(600, 1000, 300, 1000)
    assert small is not None and large is not None
    assert large.high - large.low < small.high - small.low
    assert large.significant and not small.significant


def test_stats_module_is_pure() -> None:
    code = (
        "import sys; import app.offers.stats, app.offers.flows.decisions; "
        "print(sorted(m for m in ('fastapi', 'sqlalchemy', 'starlette') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
