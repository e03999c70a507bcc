from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from app.customers.rhythm import IntervalSource
from app.customers.service import CustomerView

Status = Literal["lead", "active", "paused", "cancelled"]


class PendingCancellation(BaseModel):
    requested_at: datetime | None
    effective_at: datetime
    reason: str | None


class Discount(BaseModel):
    until: datetime = Field(description="When the discounted price ends.")
    base_mrr: int = Field(description="The price that returns when the discount ends.")


class Counters(BaseModel):
    events: int
    usage_events: int
    usage_quantity: int
    purchases: int
    payment_failures: int


class Revenue(BaseModel):
    currency: str = Field(description="ISO 4217 currency of these purchases.")
    amount: int = Field(description="Sum of the purchase amounts in this currency, minor units.")
    purchases: int = Field(description="Purchases in this currency.")


class Nps(BaseModel):
    latest: int
    previous: int | None
    at: datetime | None


class CustomerRead(BaseModel):
    """A customer's state as of ``as_of`` (now): scheduled cancellations and pause ends that are
    due have taken effect."""

    customer_id: str
    status: Status
    plan: str | None
    mrr: int = Field(description="Recurring revenue counted now, minor units (0 unless active).")
    plan_mrr: int = Field(description="The subscription's monthly price, kept while paused.")
    currency: str | None
    first_seen_at: datetime
    last_seen_at: datetime
    subscribed_at: datetime | None
    reactivated_at: datetime | None
    last_usage_at: datetime | None
    last_purchase_at: datetime | None
    last_payment_failed_at: datetime | None
    paused_at: datetime | None
    paused_until: datetime | None
    cancelled_at: datetime | None
    cancel_reason: str | None
    pending_cancellation: PendingCancellation | None
    discount: Discount | None
    counters: Counters
    revenue: list[Revenue] = Field(
        description="Purchase amounts per currency, by currency code. Amounts in different "
        "currencies are never added."
    )
    lifetime_revenue: int | None = Field(
        description="Everything the customer has paid, minor units of "
        "lifetime_revenue_currency: 0 without purchases, null when it paid in more than one "
        "currency (see revenue)."
    )
    lifetime_revenue_currency: str | None = Field(
        description="The one currency of the customer's purchases; null without purchases or "
        "with several currencies."
    )
    purchase_days: int = Field(
        description="UTC days with at least one purchase (several purchases on one day are one "
        "purchase day)."
    )
    median_purchase_interval_days: float | None = Field(
        description="Median of the days between consecutive purchase days; null before a "
        "second purchase day."
    )
    expected_next_purchase_at: datetime | None = Field(
        description="Last purchase + median_purchase_interval_days; for a one-time buyer, last "
        "purchase + the tenant's median interval across repeat buyers; null when neither is "
        "known."
    )
    expected_next_purchase_basis: IntervalSource | None = Field(
        description="Which interval expected_next_purchase_at uses: the customer's own, or the "
        "tenant's (one-time buyers)."
    )
    nps: Nps | None
    traits: dict[str, Any]
    as_of: datetime

    @classmethod
    def from_view(cls, view: CustomerView) -> CustomerRead:
        row, state = view.row, view.state
        pending = (
            PendingCancellation(
                requested_at=state.cancel_requested_at,
                effective_at=state.cancel_effective_at,
                reason=state.cancel_reason,
            )
            if state.cancel_effective_at is not None
            else None
        )
        return cls(
            customer_id=row.customer_id,
            status=state.status,
            plan=state.plan,
            mrr=state.mrr,
            plan_mrr=state.plan_mrr,
            currency=state.currency,
            first_seen_at=row.first_seen_at,
            last_seen_at=row.last_seen_at,
            subscribed_at=state.subscribed_at,
            reactivated_at=state.reactivated_at,
            last_usage_at=row.last_usage_at,
            last_purchase_at=row.last_purchase_at,
            last_payment_failed_at=row.last_payment_failed_at,
            paused_at=state.paused_at,
            paused_until=state.paused_until,
            cancelled_at=state.cancelled_at,
            cancel_reason=state.cancel_reason if pending is None else None,
            pending_cancellation=pending,
            discount=Discount(until=state.discount_until, base_mrr=state.discount_base_mrr)
            if state.discount_until is not None and state.discount_base_mrr is not None
            else None,
            counters=Counters(
                events=row.event_count,
                usage_events=row.usage_events,
                usage_quantity=row.usage_quantity,
                purchases=row.purchase_count,
                payment_failures=row.payment_failed_count,
            ),
            revenue=[
                Revenue(currency=currency, amount=amount, purchases=purchases)
                for currency, (amount, purchases) in sorted(view.revenue.items())
            ],
            lifetime_revenue=(
                0
                if not view.revenue
                else next(iter(view.revenue.values()))[0]
                if len(view.revenue) == 1
                else None
            ),
            lifetime_revenue_currency=next(iter(view.revenue)) if len(view.revenue) == 1 else None,
            purchase_days=view.purchases.purchase_days,
            median_purchase_interval_days=view.purchases.median_interval_days,
            expected_next_purchase_at=view.purchases.expected_next_purchase_at,
            expected_next_purchase_basis=view.purchases.interval_source,
            nps=Nps(latest=state.nps_latest, previous=state.nps_previous, at=state.nps_at)
            if state.nps_latest is not None
            else None,
            traits=row.traits,
            as_of=view.as_of,
        )
