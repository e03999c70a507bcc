"""The learned model (pure: numpy and scikit-learn, no I/O): fit, predict, explain.

Fit: regularised logistic regression (scikit-learn) on the standardised design matrix of
:func:`app.health.features.design_matrix` (log1p on counts and amounts), classes weighted to
balance, examples weighted back to the population when stayers were sampled; then Platt
calibration (a one-feature logistic regression on the decision function) so that the
probabilities match the observed churn rate.

Score = 100 x (1 - p), p the calibrated probability of churning within the horizon.

Explanation: with z the standardised features, L = a (w . z + b) + c the calibrated log-odds
and L0 = a b + c those of the tenant's average customer (z = 0), the average customer scores
f(L0) with f(L) = 100 (1 - sigmoid(L)). Feature j moves the score by
(f(L) - f(L0)) / (L - L0) x a w_j z_j: its share of the log-odds against the average
customer, so the parts add up to f(L) - f(L0) exactly (f'(L0) stands in for the ratio when
L = L0). Points are apportioned in hundredths so that they add up to the rounded score.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from app.health.features import LEARNED_FEATURES, Array, Features, design_matrix
from app.health.model import Factor, HealthResult, summary_of, tier_between

# Inverse regularisation strength when the training window is too short to choose one
# (app.health.training picks from C_GRID on its own cutoffs otherwise).
C = 0.5
C_GRID = (0.01, 0.03, 0.1, 0.3, 1.0)
BASELINE = "baseline"
LABELS: dict[str, str] = {
    "usage_7d": "usage in the last 7 days",
    "usage_28d": "usage in the last 4 weeks",
    "usage_90d": "usage in the last 90 days",
    "active_days_28d": "active days in the last 4 weeks",
    "days_since_use": "days since last use",
    "trend_7_28": "usage trend (last week vs the 4 before)",
    "trend_28_28": "usage trend (last 4 weeks vs the 4 before)",
    "usage_percentile": "usage level among the tenant's customers",
    "feature_1_28d": "use of the top feature in 4 weeks",
    "feature_2_28d": "use of the second feature in 4 weeks",
    "feature_3_28d": "use of the third feature in 4 weeks",
    "tenure_days": "tenure in days",
    "mrr": "MRR",
    "subscriber": "has a subscription",
    "paused": "subscription paused",
    "pending_cancel": "cancellation pending",
    "failed_payments": "failed payments in the window",
    "unrecovered_payments": "unrecovered failed payments",
    "nps": "latest NPS",
    "nps_change": "NPS change",
    "purchase_days": "purchase days",
    "purchase_days_90d": "purchase days in the last 90 days",
    "days_since_purchase": "days since the last purchase",
    "overdue_ratio": "time since the last purchase over the usual interval",
    "spend": "total spend",
    "purchase_rate": "purchase days per 30 days since the first purchase",
    "purchase_recency_share": "share of the buying life spent since the last purchase",
    "purchase_silence": "silence of a repeat buyer against their own span (BG/NBD)",
    "spend_per_purchase": "spend per purchase day",
    "repeat_buyer": "bought on more than one day",
}
assert set(LABELS) == {name for name, _ in LEARNED_FEATURES}


@dataclass(frozen=True)
class LearnedModel:
    """Everything needed to score with and explain a fitted model (stored as JSON)."""

    features: tuple[str, ...]
    top_features: tuple[str, ...]
    means: Array
    scales: Array
    coef: Array
    intercept: float
    calib_a: float
    calib_b: float
    healthy_min: float
    at_risk_min: float
    raw_means: Array  # average design values of the examples (for the explanations)

    def to_json(self) -> dict[str, Any]:
        return {
            "features": list(self.features),
            "top_features": list(self.top_features),
            "means": self.means.tolist(),
            "scales": self.scales.tolist(),
            "coef": self.coef.tolist(),
            "intercept": self.intercept,
            "calibration": [self.calib_a, self.calib_b],
            "tiers": {"healthy_min": self.healthy_min, "at_risk_min": self.at_risk_min},
            "raw_means": self.raw_means.tolist(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LearnedModel:
        return cls(
            features=tuple(data["features"]),
            top_features=tuple(data["top_features"]),
            means=np.asarray(data["means"], dtype=np.float64),
            scales=np.asarray(data["scales"], dtype=np.float64),
            coef=np.asarray(data["coef"], dtype=np.float64),
            intercept=float(data["intercept"]),
            calib_a=float(data["calibration"][0]),
            calib_b=float(data["calibration"][1]),
            healthy_min=float(data["tiers"]["healthy_min"]),
            at_risk_min=float(data["tiers"]["at_risk_min"]),
            raw_means=np.asarray(data["raw_means"], dtype=np.float64),
        )


def _sigmoid(x: Array) -> Array:
    return np.asarray(1 / (1 + np.exp(-np.clip(x, -500, 500))), dtype=np.float64)


def fit(
    x: Array,
    y: Array,
    weights: Array,
    *,
    top_features: Sequence[str],
    c: float = C,
) -> LearnedModel:
    """Fit on design rows ``x`` (see :func:`app.health.features.design_matrix`), labels ``y``
    (1 = churned), example ``weights`` (1 / sampling rate); ``c``: inverse regularisation
    strength."""
    means = np.average(x, axis=0, weights=weights)
    scales = np.sqrt(np.average((x - means) ** 2, axis=0, weights=weights))
    scales = np.where(scales > 1e-9, scales, 1.0)
    z = (x - means) / scales
    classifier = LogisticRegression(C=c, class_weight="balanced", max_iter=2000)
    classifier.fit(z, y, sample_weight=weights)
    decision = classifier.decision_function(z).reshape(-1, 1)
    calibrator = LogisticRegression(C=1e6, max_iter=2000)
    calibrator.fit(decision, y, sample_weight=weights)
    model = LearnedModel(
        features=tuple(name for name, _ in LEARNED_FEATURES),
        top_features=tuple(top_features),
        means=means,
        scales=scales,
        coef=np.asarray(classifier.coef_[0], dtype=np.float64),
        intercept=float(classifier.intercept_[0]),
        calib_a=float(calibrator.coef_[0][0]),
        calib_b=float(calibrator.intercept_[0]),
        healthy_min=0.0,
        at_risk_min=0.0,
        raw_means=means,
    )
    return model


def with_tiers(model: LearnedModel, scores: Array, weights: Array) -> LearnedModel:
    """Tier thresholds from the scores of (validation) examples: the lowest 10% critical, the
    next 20% at risk (weighted back to the population)."""
    order = np.argsort(scores)
    cumulative = np.cumsum(weights[order]) / weights.sum()

    ranked = scores[order]

    def at(share: float) -> float:
        position = int(np.searchsorted(cumulative, share))
        return float(ranked[min(position, len(order) - 1)])

    at_risk_min = round(at(0.10), 2)
    healthy_min = max(round(at(0.30), 2), at_risk_min + 0.01)
    return LearnedModel(
        **{
            **model.__dict__,
            "healthy_min": min(healthy_min, 100.0),
            "at_risk_min": min(at_risk_min, 99.99),
        }
    )


def logits(model: LearnedModel, x: Array) -> Array:
    """Calibrated log-odds of churning."""
    z = (x - model.means) / model.scales
    return np.asarray(model.calib_a * (z @ model.coef + model.intercept) + model.calib_b)


def churn_probability(model: LearnedModel, x: Array) -> Array:
    return _sigmoid(logits(model, x))


def scores_of(model: LearnedModel, x: Array) -> Array:
    """Scores 0-100 in hundredths."""
    return np.asarray(np.round((1 - churn_probability(model, x)) * 100, 2))


def auc(churned: Array, risk: Array) -> float | None:
    """AUC of ``risk`` (higher = more likely to churn) for ``churned``; None without both."""
    if churned.size == 0 or churned.min() == churned.max():
        return None
    return float(roc_auc_score(churned, risk))


@dataclass(frozen=True)
class LearnedScores:
    features: Features
    x: Array
    score: Array
    parts: Array  # (n, 1 + F): the baseline, then each feature's points (apportioned)


def learned_scores(model: LearnedModel, features: Features) -> LearnedScores:
    x = design_matrix(features, model.features)
    z = (x - model.means) / model.scales
    a = model.calib_a
    shares = a * z * model.coef  # each feature's part of L - L0
    big_l = shares.sum(axis=1) + a * model.intercept + model.calib_b
    l0 = a * model.intercept + model.calib_b
    f0 = 100 * (1 - 1 / (1 + math.exp(-l0)))
    f = 100 * (1 - _sigmoid(big_l))
    diff = big_l - l0
    slope = np.where(
        np.abs(diff) > 1e-9,
        (f - f0) / np.where(np.abs(diff) > 1e-9, diff, 1.0),
        -100 * _sigmoid(np.full_like(diff, l0)) * (1 - _sigmoid(np.full_like(diff, l0))),
    )
    exact = np.concatenate([np.full((x.shape[0], 1), f0), shares * slope[:, None]], axis=1)
    score = np.round(f, 2)
    parts = _apportion_signed(exact * 100, np.round(score * 100).astype(np.int64)) / 100
    return LearnedScores(features, x, score, parts)


def _apportion_signed(exact: Array, totals: np.ndarray) -> Array:
    """Integer units per entry (any sign) summing to each row's total: floors, plus one unit
    for the largest remainders."""
    units = np.floor(exact)
    short = np.clip(totals - units.sum(axis=1), 0, exact.shape[1]).astype(np.int64)
    order = np.argsort(-(exact - units), axis=1, kind="stable")
    ranks = np.empty_like(order)
    rows = np.arange(exact.shape[0])[:, None]
    ranks[rows, order] = np.arange(exact.shape[1])[None, :]
    return np.asarray(units + (ranks < short[:, None]), dtype=np.float64)


def explain_learned(
    model: LearnedModel, scores: LearnedScores, i: int, *, brief: bool = False
) -> HealthResult:
    """Customer ``i``'s learned score: the baseline (the tenant's average customer) and each
    feature's points. ``brief``: the score, tier and summary only, with no factors."""
    score = float(scores.score[i])
    parts = scores.parts[i].tolist()
    tier = tier_between(score, model.healthy_min, model.at_risk_min)

    def detail(j: int) -> str:
        value = float(scores.features[model.features[j]][i])
        return _detail(model.features[j], value, float(model.raw_means[j]), model)

    # A feature the model gave no weight and that moved nothing is not a factor.
    shown = [j for j in range(len(model.features)) if parts[j + 1] != 0 or model.coef[j] != 0]
    worst = min(shown, key=lambda j: parts[j + 1]) if shown else None  # the first biggest drag
    summary = summary_of(
        tier, None if worst is None else (-parts[worst + 1], lambda: detail(worst))
    )
    if brief:
        return HealthResult(score, tier, (), (), summary)
    factors = [
        Factor(
            name=BASELINE,
            value=None,
            score=None,
            weight=0.0,
            contribution=parts[0],
            detail=f"the tenant's average customer scores {parts[0]:.0f}",
        )
    ]
    for j in shown:
        value = float(scores.features[model.features[j]][i])
        factors.append(
            Factor(
                name=model.features[j],
                value=None if math.isnan(value) else round(value, 4),
                score=None,
                weight=round(float(model.coef[j]), 4),
                contribution=parts[j + 1],
                detail=detail(j),
            )
        )
    return HealthResult(score, tier, tuple(factors), (), summary)


def _detail(name: str, value: float, average: float, model: LearnedModel) -> str:
    label = LABELS[name]
    if name.startswith("feature_"):
        k = int(name.split("_")[1]) - 1
        if k < len(model.top_features):
            label = f"use of {model.top_features[k]} in 4 weeks"
    if math.isnan(value):
        return f"{label}: none"
    transform = dict(LEARNED_FEATURES)[name]
    typical = math.expm1(average) if transform == "log1p" else average
    return f"{label}: {value:,.4g} (average customer: {typical:,.3g})"
