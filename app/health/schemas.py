from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.events.schemas import CustomerId, Instant
from app.health.settings import HealthSettings
from app.inputs import RequestModel


class HealthSettingsRead(BaseModel):
    """The tenant's current health model settings. A request body for ``PUT`` is the
    ``settings`` object alone; fields it omits take their defaults."""

    version: int = Field(
        description="Stored version, counting up from 1; 0 while the tenant uses the defaults. "
        "Every health score records the version that produced it."
    )
    settings: HealthSettings
    updated_at: datetime | None = Field(description="When this version was stored.")


class FactorRead(BaseModel):
    name: str
    value: float | None = Field(description="The measured quantity, in the factor's own units.")
    score: float | None = Field(
        description="Expert model: sub-score in [0, 1], 1 is healthy. Learned model: null."
    )
    weight: float = Field(
        description="Expert model: weight renormalised over the factors that have data. "
        "Learned model: the coefficient of the standardised feature (positive: more churn)."
    )
    contribution: float = Field(
        description="Points this factor adds to the score (learned model: against the "
        "tenant's average customer, which is the `baseline` factor); they add up to `score`."
    )
    detail: str


class ModelRead(BaseModel):
    """The model that produced a score."""

    kind: Literal["expert", "learned"]
    version: int = Field(
        description="expert: the health settings version; learned: the stored model version."
    )
    trained_at: datetime | None
    validation_auc: float | None = Field(
        description="Out-of-time AUC of the learned model for churn within the horizon."
    )
    expert_auc: float | None = Field(
        description="Out-of-time AUC of the expert model on the same examples."
    )
    reason: str | None = Field(description="Why this model is the one in use.")


class MissingFactorRead(BaseModel):
    name: str
    reason: str


class Trend(BaseModel):
    change_7d: float | None = Field(description="Score now minus the score 7 days ago.")
    change_30d: float | None = Field(description="Score now minus the score 30 days ago.")
    direction: Literal["up", "down", "flat"] | None


class HealthRead(BaseModel):
    """An explainable score: the contributions add up to ``score``."""

    customer_id: str
    score: float | None = Field(description="0-100; null when no factor has data.")
    tier: Literal["healthy", "at_risk", "critical"] | None
    status: str = Field(description="The customer's status at the instant scored.")
    as_of: datetime
    computed_at: datetime
    model_version: int = Field(description="The tenant's health settings version used.")
    model_revision: int = Field(description="Revision of the factor formulas.")
    factors: list[FactorRead]
    missing_factors: list[MissingFactorRead] = Field(
        description="Factors left out for lack of data; the weights were renormalised without them."
    )
    summary: str
    model: ModelRead
    trend: Trend | None = Field(description="From the daily snapshots; null for past as_of.")


class HealthLookupIn(RequestModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    customer_ids: list[CustomerId] = Field(min_length=1, max_length=1000)
    as_of: Instant | None = None


class HealthLookupOut(BaseModel):
    results: list[HealthRead]
    not_found: list[str]


class SnapshotRead(BaseModel):
    day: date
    score: float | None
    tier: str | None
    model_version: int


class HealthHistory(BaseModel):
    customer_id: str
    snapshots: list[SnapshotRead]


class TierDayRead(BaseModel):
    day: date
    healthy: int
    at_risk: int
    critical: int
    unscored: int = Field(description="Subscribers whose snapshot has no score.")
    subscribers: int = Field(description="Active or paused at the end of the day, with a snapshot.")


class TierTrendRead(BaseModel):
    """Subscribers per health tier on each day of ``[start, end]`` that has snapshots."""

    start: date
    end: date
    days: list[TierDayRead]


class CustomerSummary(BaseModel):
    customer_id: str
    status: str
    plan: str | None
    mrr: int
    currency: str | None
    score: float | None
    tier: str | None
    change_7d: float | None
    change_30d: float | None
    summary: str | None
    scored_at: datetime | None


class CustomerList(BaseModel):
    items: list[CustomerSummary]
    next_cursor: str | None


class TierOutcome(BaseModel):
    tier: str
    customers: int
    churned: int
    churn_rate: float | None


class CalibrationRow(BaseModel):
    decile: int = Field(description="1: the lowest predicted risk.")
    customers: int
    predicted_churn_rate: float | None = Field(
        description="Mean predicted churn probability, percent (learned model only)."
    )
    observed_churn_rate: float


class BacktestRead(BaseModel):
    """How well the score at ``as_of`` predicted churn over the following ``horizon_days``."""

    as_of: datetime
    horizon_days: int
    model_version: int = Field(description="The tenant's health settings version.")
    model: ModelRead = Field(
        description="The model in use at as_of: a learned model only if trained on labels "
        "known by as_of."
    )
    customers: int = Field(
        description="Customers judged: subscribers active or paused at as_of, and buyers "
        "without a subscription when the tenant counts them."
    )
    churned: int = Field(description="Of those, how many churned within the horizon.")
    churn_rate: float | None
    auc: float | None = Field(
        description="AUC of the model in use: probability that a random churner scored lower "
        "than a random customer who stayed (ties count half). 0.5 is chance; null without both "
        "groups."
    )
    auc_expert: float | None = Field(description="AUC of the expert model on the same customers.")
    auc_learned: float | None = Field(
        description="AUC of the time-honest learned model on the same customers."
    )
    tiers: list[TierOutcome]
    calibration: list[CalibrationRow]


class LearnedModelRead(BaseModel):
    """A stored learned model and how it did against the expert model out of time."""

    version: int
    trained_at: datetime
    labels_until: datetime = Field(description="Every label it learned from was known by then.")
    horizon_days: int
    train_from: datetime | None
    train_to: datetime | None = Field(description="The last training cutoff.")
    validation_from: datetime | None
    validation_to: datetime | None
    examples: int
    positives: int = Field(description="Churners among the training examples.")
    validation_examples: int
    validation_positives: int
    auc_learned: float | None = Field(description="Out-of-time AUC of the learned model.")
    auc_expert: float | None = Field(description="Out-of-time AUC of the expert model.")
    active: bool = Field(description="Whether it scores the tenant's customers.")
    reason: str
    tiers: dict[str, float] | None = Field(
        description="Tier thresholds derived from the model's validation scores."
    )


class LearnedModelList(BaseModel):
    items: list[LearnedModelRead]
