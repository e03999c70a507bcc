from __future__ import annotations

import math
from typing import Any

import pytest
from pydantic import ValidationError

from app.health.settings import FACTOR_NAMES, HealthSettings


def error_locs(payload: dict[str, Any]) -> set[tuple[str | int, ...]]:
    with pytest.raises(ValidationError) as caught:
        HealthSettings.model_validate(payload)
    return {tuple(error["loc"]) for error in caught.value.errors()}


def test_defaults_are_the_default_model() -> None:
    settings = HealthSettings()
    assert set(FACTOR_NAMES) == set(type(settings.weights).model_fields)
    assert all(settings.weights.of(name) > 0 for name in FACTOR_NAMES)
    assert (settings.tiers.healthy_min, settings.tiers.at_risk_min) == (70, 40)
    assert (settings.usage.trend_recent_days, settings.usage.trend_baseline_days) == (7, 28)
    assert settings.usage_days_needed() == 35


def test_json_round_trip_is_lossless() -> None:
    settings = HealthSettings.model_validate(
        {"weights": {"tenure": 0, "sentiment": 2.5}, "usage": {"recency_half_life_days": 3.5}}
    )
    assert HealthSettings.model_validate(settings.model_dump(mode="json")) == settings
    assert settings.weights.tenure == 0
    assert settings.weights.usage_trend == HealthSettings().weights.usage_trend


def test_settings_are_immutable() -> None:
    settings = HealthSettings()
    with pytest.raises(ValidationError):
        settings.tiers.healthy_min = 10  # type: ignore[misc]


@pytest.mark.parametrize(
    ("payload", "loc"),
    [
        ({"weights": {"usage_trend": -0.1}}, ("weights", "usage_trend")),
        ({"weights": {"tenure": 1001}}, ("weights", "tenure")),
        ({"weights": {"sentiment": math.nan}}, ("weights", "sentiment")),
        ({"weights": {"sentiment": math.inf}}, ("weights", "sentiment")),
        ({"weights": {"sentiment": "heavy"}}, ("weights", "sentiment")),
        ({"usage": {"recency_half_life_days": 0}}, ("usage", "recency_half_life_days")),
        ({"usage": {"trend_recent_days": 0}}, ("usage", "trend_recent_days")),
        ({"usage": {"trend_baseline_days": 366}}, ("usage", "trend_baseline_days")),
        ({"usage": {"trend_baseline_days": 2**63}}, ("usage", "trend_baseline_days")),
        ({"usage": {"frequency_window_days": 1.5}}, ("usage", "frequency_window_days")),
        ({"usage": {"frequency_target_share": 0}}, ("usage", "frequency_target_share")),
        ({"usage": {"frequency_target_share": 1.01}}, ("usage", "frequency_target_share")),
        ({"usage": {"new_customer_days": -1}}, ("usage", "new_customer_days")),
        ({"purchases": {"overdue_half_life": 0}}, ("purchases", "overdue_half_life")),
        ({"payments": {"window_days": 0}}, ("payments", "window_days")),
        ({"sentiment": {"max_age_days": 400}}, ("sentiment", "max_age_days")),
        ({"tenure": {"midpoint_days": -5}}, ("tenure", "midpoint_days")),
        ({"tiers": {"healthy_min": 0}}, ("tiers", "healthy_min")),
        ({"tiers": {"healthy_min": 100.5}}, ("tiers", "healthy_min")),
        ({"tiers": {"at_risk_min": 0}}, ("tiers", "at_risk_min")),
    ],
)
def test_out_of_range_values_are_rejected_at_their_path(
    payload: dict[str, Any], loc: tuple[str, ...]
) -> None:
    assert loc in error_locs(payload)


def test_unknown_fields_are_rejected() -> None:
    assert error_locs({"weight": {}}) == {("weight",)}
    assert error_locs({"weights": {"usage": 1}}) == {("weights", "usage")}
    assert error_locs({"tiers": {"healthy": 70}}) == {("tiers", "healthy")}


def test_at_least_one_weight_must_be_positive() -> None:
    zero = {name: 0 for name in FACTOR_NAMES}
    assert error_locs({"weights": zero}) == {("weights",)}
    assert HealthSettings.model_validate({"weights": {**zero, "tenure": 0.01}}).weights.tenure


@pytest.mark.parametrize(("recent", "baseline"), [(7, 7), (28, 7), (365, 365)])
def test_the_trend_baseline_must_be_longer_than_the_recent_window(
    recent: int, baseline: int
) -> None:
    payload = {"usage": {"trend_recent_days": recent, "trend_baseline_days": baseline}}
    assert error_locs(payload) == {("usage", "trend_baseline_days")}


def test_a_bad_recent_window_is_reported_once() -> None:
    payload = {"usage": {"trend_recent_days": 0, "trend_baseline_days": 28}}
    assert error_locs(payload) == {("usage", "trend_recent_days")}


@pytest.mark.parametrize(("healthy", "at_risk"), [(70, 70), (40, 70), (100, 100)])
def test_tiers_must_be_ordered(healthy: float, at_risk: float) -> None:
    payload = {"tiers": {"healthy_min": healthy, "at_risk_min": at_risk}}
    assert error_locs(payload) == {("tiers", "at_risk_min")}


def test_tier_bounds_accept_the_extremes() -> None:
    tiers = HealthSettings.model_validate({"tiers": {"healthy_min": 100, "at_risk_min": 0.01}})
    assert tiers.tiers.healthy_min == 100
    only_at_risk = HealthSettings.model_validate({"tiers": {"at_risk_min": 69.5}})
    assert only_at_risk.tiers.healthy_min == 70
    assert error_locs({"tiers": {"at_risk_min": 75}}) == {("tiers", "at_risk_min")}


def test_purchase_target_must_fit_its_window() -> None:
    payload = {"purchases": {"frequency_window_days": 30, "frequency_target": 31}}
    assert error_locs(payload) == {("purchases", "frequency_target")}
    fits = {"purchases": {"frequency_window_days": 30, "frequency_target": 30}}
    assert HealthSettings.model_validate(fits).purchases.frequency_target == 30
