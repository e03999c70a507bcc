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
    score: float = Field(description="Sub-score in [0, 1]; 1 is healthy.")
    weight: float = Field(description="Weight renormalised over the factors that have data.")
    contribution: float = Field(description="Points this factor adds to the score.")
    detail: str


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


class BacktestRead(BaseModel):
    """How well the score at ``as_of`` predicted churn over the following ``horizon_days``."""

    as_of: datetime
    horizon_days: int
    model_version: int
    customers: int = Field(description="Customers active or paused at as_of (scored).")
    churned: int = Field(description="Of those, how many churned within the horizon.")
    churn_rate: float | None
    auc: float | None = Field(
        description="Probability that a random churner scored lower than a random customer who "
        "stayed (ties count half). 0.5 is chance; null without both groups."
    )
    tiers: list[TierOutcome]
