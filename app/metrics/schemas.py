from __future__ import annotations

from datetime import datetime
from typing import Annotated, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from app.inputs import RANGE_END, RANGE_START, RequestModel, TimeParam
from app.metrics.churn import (
    Benchmark,
    CohortGranularity,
    Granularity,
    period_count,
)
from app.money import Currency

MAX_PERIODS = 1000
MAX_COHORT_PERIODS = 120  # a cohort matrix has n(n+1)/2 cells
MAX_VALUE_MONTHS = 120
PlanName = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00]*$")]


_AS_OF = (
    "Count only changes effective at or before this instant (default: now). Later, scheduled "
    "changes such as a cancellation at period end are ignored."
)
_CURRENCY = (
    "ISO 4217 currency of the figures. Default: the currency of most customers with MRR. "
    "Customers in other currencies are left out."
)


class _Range(RequestModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    start: TimeParam = Field(description=RANGE_START)
    end: TimeParam = Field(description=RANGE_END)
    as_of: TimeParam | None = Field(default=None, description=_AS_OF)
    currency: Currency | None = Field(default=None, description=_CURRENCY)

    @model_validator(mode="after")
    def _start_before_end(self) -> Self:
        if self.start >= self.end:
            raise ValueError("start must be before end")
        return self


class ChurnQuery(_Range):
    granularity: Granularity = Field(default="month", description="Period length.")
    plan: PlanName | None = Field(
        default=None, description="Only customers on this plan at the start of each period."
    )

    @model_validator(mode="after")
    def _bounded(self) -> Self:
        count = period_count(self.start, self.end, self.granularity)
        if count > MAX_PERIODS:
            raise ValueError(
                f"the range holds {count} {self.granularity} periods; at most {MAX_PERIODS}"
            )
        return self


class CohortQuery(_Range):
    granularity: CohortGranularity = Field(default="month", description="Cohort and period length.")

    @model_validator(mode="after")
    def _bounded(self) -> Self:
        count = period_count(self.start, self.end, self.granularity)
        if count > MAX_COHORT_PERIODS:
            raise ValueError(
                f"the range holds {count} {self.granularity} periods; at most {MAX_COHORT_PERIODS}"
            )
        return self


class CancellationsQuery(_Range):
    pass


class LtvQuery(_Range):
    plan: PlanName | None = Field(
        default=None,
        description="Only customers on this plan at the start of each month; cohorts: only "
        "customers whose first activation was on this plan.",
    )

    @model_validator(mode="after")
    def _bounded(self) -> Self:
        count = period_count(self.start, self.end, "month")
        if count > MAX_VALUE_MONTHS:
            raise ValueError(f"the range holds {count} months; at most {MAX_VALUE_MONTHS}")
        return self


class RepeatPurchasesQuery(_Range):
    currency: Currency | None = Field(
        default=None,
        description="ISO 4217 currency of the purchases counted. Default: the currency the "
        "most customers bought in during the window. Purchases in other currencies are left "
        "out.",
    )


class SummaryQuery(RequestModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    as_of: TimeParam | None = Field(default=None, description=_AS_OF)
    currency: Currency | None = Field(default=None, description=_CURRENCY)


# -- responses ---------------------------------------------------------------------------------

_PERCENT = "Percent at full precision; null when the denominator is 0."


class ChurnPeriod(BaseModel):
    start: datetime
    end: datetime
    customers_at_start: int = Field(description="Active (or paused) at start.")
    customers_at_end: int = Field(description="Active (or paused) at end.")
    churned: int = Field(description="Active at start and not at end.")
    churn_rate: float | None = Field(description="churned / customers_at_start x 100. " + _PERCENT)
    new: int = Field(description="First-ever activation inside the period.")
    reactivated: int = Field(description="Came back from cancelled inside the period.")
    paused: int = Field(description="Paused at end.")
    mrr_at_start: int = Field(description="MRR at start, minor units (paused counts 0).")
    mrr_at_end: int = Field(description="MRR at end, minor units (paused counts 0).")
    mrr_new: int = Field(description="MRR at end of the new customers.")
    mrr_churned: int = Field(description="MRR at start of the churned customers.")
    mrr_contraction: int = Field(description="MRR lost by customers kept (downgrades, pauses).")
    mrr_expansion: int = Field(description="MRR gained by customers kept (upgrades, resumes).")
    revenue_churn_rate: float | None = Field(
        description="(mrr_churned + mrr_contraction) / mrr_at_start x 100. " + _PERCENT
    )
    net_revenue_retention: float | None = Field(
        description="MRR at end of the customers active at start / mrr_at_start x 100. " + _PERCENT
    )


class ChurnSeriesRead(BaseModel):
    currency: str
    other_currencies: list[str] = Field(description="Other currencies present, left out.")
    granularity: Granularity
    plan: str | None
    as_of: datetime
    periods: list[ChurnPeriod]


class CohortCellRead(BaseModel):
    index: int = Field(description="Periods since the cohort's own (0 = the cohort's period).")
    start: datetime
    end: datetime
    active: int = Field(description="Members active (or paused) at the end of the period.")
    customer_retention: float | None = Field(description="active / customers x 100.")
    mrr: int = Field(description="Members' MRR at the end of the period.")
    revenue_retention: float | None = Field(description="mrr / starting_mrr x 100.")


class CohortRead(BaseModel):
    start: datetime
    end: datetime
    customers: int = Field(description="Customers whose first activation is in this period.")
    starting_mrr: int = Field(description="Their MRR right after first activation.")
    periods: list[CohortCellRead]


class CohortMatrixRead(BaseModel):
    currency: str
    other_currencies: list[str]
    granularity: CohortGranularity
    as_of: datetime
    cohorts: list[CohortRead]


class ReasonRead(BaseModel):
    reason: str | None = Field(description="Cancellation reason; null when none was given.")
    cancellations: int
    mrr_lost: int = Field(description="MRR the cancellations took away (minor units).")


class LiftPoints(BaseModel):
    """Treatment save rate minus holdout save rate, in percentage points, with its 95%
    confidence interval (Newcombe's hybrid score method)."""

    difference: float
    ci_low: float
    ci_high: float
    significant: bool = Field(description="The interval excludes 0.")


class OfferKindRead(BaseModel):
    """Flows of one offer kind (null: flows that showed no offer), reason and variant."""

    offer_kind: str | None
    reason: str
    variant: str = Field(description="treatment (offers shown) or holdout (offers withheld).")
    flows: int
    accepted: int
    kept: int = Field(description="Accepted, and the customer did not churn within keep_days.")
    saved: int = Field(description="Not declined, and no churn within keep_days.")
    pending: int = Field(description="Keep window not over yet; left out of the rates.")
    save_rate: float | None = Field(description="saved / (flows - pending) x 100.")
    lift: LiftPoints | None = Field(
        description="Treatment rows: save rate over the holdout of the same kind and reason."
    )


class CancellationsRead(BaseModel):
    currency: str
    other_currencies: list[str]
    start: datetime
    end: datetime
    as_of: datetime
    cancellations: int
    mrr_lost: int
    by_reason: list[ReasonRead]
    flows_started: int = Field(description="Cancellation flows started in the range.")
    saved: int = Field(
        description="Flows not declined whose customer did not churn within keep_days after."
    )
    pending: int = Field(description="Flows whose keep window is not over yet.")
    save_rate: float | None = Field(
        description="saved / (flows_started - pending) x 100. " + _PERCENT
    )
    keep_days: int = Field(description="The tenant's keep window (offer settings).")
    lift: LiftPoints | None = Field(
        description="All treatment flows over all holdout flows; null without a holdout."
    )
    by_offer_kind: list[OfferKindRead]


class CustomerCounts(BaseModel):
    lead: int = Field(description="Customers with no subscription yet.")
    active: int
    paused: int
    cancelled: int


class TierCounts(BaseModel):
    """Subscribers (active or paused) by the tier of their latest materialised score."""

    healthy: int
    at_risk: int
    critical: int
    unscored: int


class SummaryRead(BaseModel):
    as_of: datetime
    currency: str
    other_currencies: list[str]
    customers: CustomerCounts
    mrr: int = Field(description="Current MRR, minor units.")
    last_month: ChurnPeriod = Field(description="The last full calendar month (UTC).")
    benchmark: Benchmark | None = Field(
        description="last_month's churn rate: healthy under 5%, watch 5-10%, needs_attention "
        "over 10%; null without customers at the month's start."
    )
    health: TierCounts = Field(
        description="Current subscribers by health tier (from the scores refreshed on every "
        "event and by the periodic rescore; not affected by as_of)."
    )


class LtvMonthRead(BaseModel):
    start: datetime
    end: datetime
    customers_at_start: int = Field(description="Active (or paused) at the month's start.")
    mrr_at_start: int = Field(description="Their MRR then, minor units (paused counts 0).")
    churned: int = Field(description="Active at the month's start and not at its end.")
    churn_rate: float | None = Field(description="churned / customers_at_start x 100. " + _PERCENT)


class HorizonRevenueRead(BaseModel):
    months: int = Field(description="N: purchases within N months of each first activation.")
    revenue: int | None = Field(
        description="Sum of the members' purchases in that span, minor units; null until the "
        "cohort is N months past its end."
    )
    revenue_per_customer: float | None = Field(
        description="revenue / customers; null when revenue is, or the cohort is empty."
    )


class CohortRevenueRead(BaseModel):
    start: datetime
    end: datetime
    customers: int = Field(description="Customers whose first activation is in this month.")
    horizons: list[HorizonRevenueRead]


class LtvRead(BaseModel):
    currency: str
    other_currencies: list[str] = Field(description="Other currencies present, left out.")
    plan: str | None
    start: datetime
    end: datetime
    as_of: datetime
    months: list[LtvMonthRead] = Field(
        description="The complete calendar months of the range (ended by as_of)."
    )
    customer_months: int = Field(description="Sum of customers_at_start over the months.")
    mrr_months: int = Field(description="Sum of mrr_at_start over the months, minor units.")
    churned: int = Field(description="Sum of churned over the months.")
    arpa: float | None = Field(
        description="Average revenue per account per month: mrr_months / customer_months, "
        "minor units; null without customers."
    )
    monthly_churn_rate: float | None = Field(
        description="churned / customer_months x 100. " + _PERCENT
    )
    ltv: float | None = Field(
        description="arpa / (monthly_churn_rate / 100) = mrr_months / churned, minor units; "
        "null when no customer was lost (no finite value) or there were no customers."
    )
    cohorts: list[CohortRevenueRead] = Field(
        description="Realised revenue per monthly signup cohort of the range (begun by as_of)."
    )


class FrequencyRead(BaseModel):
    purchase_days: str = Field(description='"1" to "4", then "5+".')
    customers: int
    share: float | None = Field(description="customers / buyers x 100. " + _PERCENT)


class RepeatPurchasesRead(BaseModel):
    currency: str
    other_currencies: list[str] = Field(description="Other currencies bought in, left out.")
    start: datetime
    end: datetime
    as_of: datetime
    purchases: int = Field(description="Purchase events in the window.")
    revenue: int = Field(description="Sum of their amounts, minor units.")
    buyers: int = Field(description="Customers with at least one purchase day in the window.")
    repeat_buyers: int = Field(description="Buyers with two or more purchase days in it.")
    repeat_purchase_rate: float | None = Field(
        description="repeat_buyers / buyers x 100. " + _PERCENT
    )
    median_days_between_purchases: float | None = Field(
        description="Median gap in days between consecutive purchase days of a customer, over "
        "every such gap in the window; null without a repeat buyer."
    )
    frequency: list[FrequencyRead] = Field(description="Buyers by number of purchase days.")
