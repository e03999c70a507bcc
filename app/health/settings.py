"""Per-tenant settings of the health score model (pure: Pydantic only, no I/O).

The defaults are the default model. A tenant replaces the whole object with
``PUT /v1/settings/health``; every stored version is kept so that a score's ``model_version``
can be resolved later. Cross-field rules are checked in field validators, so a violation is
reported at the path of the field that breaks it (``["body", "usage", "trend_baseline_days"]``).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field, ValidationInfo, field_validator, model_validator

from app.inputs import RequestModel

FACTOR_NAMES = (
    "usage_recency",
    "usage_trend",
    "usage_frequency",
    "usage_level",
    "purchase_recency",
    "purchase_frequency",
    "payment_health",
    "subscription_state",
    "sentiment",
    "tenure",
)

Weight = Annotated[float, Field(ge=0, le=1000, allow_inf_nan=False)]
WindowDays = Annotated[int, Field(ge=1, le=365)]
PositiveDays = Annotated[float, Field(gt=0, le=3650, allow_inf_nan=False)]
Threshold = Annotated[float, Field(gt=0, le=100, allow_inf_nan=False)]


class _Strict(RequestModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class FactorWeights(_Strict):
    """Relative weights; only their ratios matter. A weight of 0 switches a factor off (it is
    neither computed nor listed as missing). Weights of the factors that have data are
    renormalised to sum to 1 for each customer."""

    usage_recency: Weight = 0.15
    usage_trend: Weight = 0.20
    usage_frequency: Weight = 0.10
    usage_level: Weight = 0.25
    purchase_recency: Weight = 0.20
    purchase_frequency: Weight = 0.15
    payment_health: Weight = 0.15
    subscription_state: Weight = 0.50
    sentiment: Weight = 0.10
    tenure: Weight = 0.05

    @model_validator(mode="after")
    def _some_weight_is_positive(self) -> FactorWeights:
        if not any(self.of(name) > 0 for name in FACTOR_NAMES):
            raise ValueError("at least one factor weight must be greater than 0")
        return self

    def of(self, name: str) -> float:
        value: float = getattr(self, name)
        return value


class UsageSettings(_Strict):
    recency_half_life_days: PositiveDays = Field(
        default=7.0, description="Days without usage after which the recency sub-score halves."
    )
    trend_recent_days: WindowDays = Field(
        default=7, description="Complete days, ending yesterday (UTC), whose usage rate is judged."
    )
    trend_baseline_days: WindowDays = Field(
        default=28,
        description="Complete days immediately before the recent window: the baseline rate.",
    )
    frequency_window_days: WindowDays = Field(
        default=28, description="Complete days, ending yesterday, over which active days count."
    )
    frequency_target_share: float = Field(
        default=0.5,
        gt=0,
        le=1,
        allow_inf_nan=False,
        description="Share of active days that earns a full frequency sub-score.",
    )
    new_customer_days: int = Field(
        default=7,
        ge=0,
        le=365,
        description="Customers younger than this are not judged on usage trend or frequency.",
    )

    @field_validator("trend_baseline_days")
    @classmethod
    def _baseline_longer_than_recent(cls, value: int, info: ValidationInfo) -> int:
        recent = info.data.get("trend_recent_days")
        if recent is not None and value <= recent:
            raise ValueError(f"must be greater than trend_recent_days ({recent})")
        return value


class PurchaseSettings(_Strict):
    """Purchase factors apply to customers without a subscription (repeat-purchase
    businesses); a subscriber's health is read from subscription state and payments."""

    overdue_half_life: float = Field(
        default=0.5,
        gt=0,
        le=100,
        allow_inf_nan=False,
        description=(
            "Past the customer's usual interval between purchases, the recency sub-score halves "
            "every this many further intervals."
        ),
    )
    frequency_window_days: WindowDays = Field(
        default=90, description="Days, ending today, over which purchase days count."
    )
    frequency_target: float = Field(
        default=3.0,
        gt=0,
        le=365,
        allow_inf_nan=False,
        description="Purchase days in the window that earn a full frequency sub-score.",
    )

    @field_validator("frequency_target")
    @classmethod
    def _target_fits_window(cls, value: float, info: ValidationInfo) -> float:
        window = info.data.get("frequency_window_days")
        if window is not None and value > window:
            raise ValueError(f"cannot exceed frequency_window_days ({window})")
        return value


class PaymentSettings(_Strict):
    window_days: WindowDays = Field(
        default=30, description="Failed payments older than this no longer count."
    )


class SentimentSettings(_Strict):
    max_age_days: WindowDays = Field(
        default=180, description="NPS feedback older than this is left out."
    )


class TenureSettings(_Strict):
    midpoint_days: PositiveDays = Field(
        default=90.0, description="Tenure at which the tenure sub-score reaches 0.5."
    )


class LearningSettings(_Strict):
    """The learned model: trained on the tenant's own history, used only when it beats the
    expert model out of time."""

    enabled: bool = Field(default=True, description="Train and use a learned model at all.")
    horizon_days: int = Field(
        default=30, ge=1, le=365, description="Churn is predicted over this many days."
    )
    history_days: int = Field(
        default=365, ge=28, le=1095, description="Training cutoffs span this many days back."
    )
    cutoff_step_days: int = Field(
        default=7, ge=1, le=90, description="Days between two training cutoffs."
    )
    buyers_churn_without_purchase: bool = Field(
        default=True,
        description="Customers without a subscription count as churned when they buy nothing "
        "within the horizon (otherwise only subscribers are examples).",
    )
    min_churners: int = Field(
        default=30,
        ge=1,
        le=100_000,
        description="Churners the out-of-time window needs before the learned model may win.",
    )


class TierThresholds(_Strict):
    """healthy: score >= healthy_min; at_risk: at_risk_min <= score < healthy_min; critical
    below."""

    healthy_min: Threshold = 70.0
    at_risk_min: Threshold = 40.0

    @field_validator("at_risk_min")
    @classmethod
    def _below_healthy(cls, value: float, info: ValidationInfo) -> float:
        healthy = info.data.get("healthy_min")
        if healthy is not None and value >= healthy:
            raise ValueError(f"must be less than healthy_min ({healthy:g})")
        return value


class HealthSettings(_Strict):
    """Everything a tenant can tune in the health model. Omitted fields take their defaults."""

    weights: FactorWeights = FactorWeights()
    usage: UsageSettings = UsageSettings()
    purchases: PurchaseSettings = PurchaseSettings()
    payments: PaymentSettings = PaymentSettings()
    sentiment: SentimentSettings = SentimentSettings()
    tenure: TenureSettings = TenureSettings()
    tiers: TierThresholds = TierThresholds()
    learning: LearningSettings = LearningSettings()

    def usage_days_needed(self) -> int:
        """How many complete days before ``as_of``'s UTC date the usage factors read."""
        return max(
            self.usage.trend_recent_days + self.usage.trend_baseline_days,
            self.usage.frequency_window_days,
        )
