"""The outbound event types a webhook endpoint can subscribe to (pure).

This registry is the one place a feature declares the events it emits: add the type and a
one-line description here, then call :func:`app.webhooks.service.enqueue` in the transaction
that makes the change. Subscriptions are validated against it.
"""

from __future__ import annotations

from collections.abc import Iterable

EVENT_TYPES: dict[str, str] = {
    "health.tier_changed": (
        "A customer's health tier changed: customer_id, old_tier, new_tier, score, top_factors."
    ),
    "customer.churned": "A customer's cancellation took effect: customer_id, reason, mrr lost.",
    "customer.reactivated": "A lost customer subscribed again: customer_id, plan, mrr.",
    "customer.reorder_overdue": (
        "A repeat buyer is late for its usual purchase (lifecycle signal): customer_id, "
        "last_purchase_at, purchase_days, median_interval_days, expected_purchase_at, "
        "overdue_since, factor."
    ),
    "customer.inactive": (
        "A customer who used the product has not for the configured days (lifecycle signal): "
        "customer_id, last_usage_at, inactive_days, inactive_since, status, plan."
    ),
    "customer.loyalty_milestone": (
        "An active, healthy customer reached a tenure milestone (lifecycle signal): "
        "customer_id, months, subscribed_at, reached_at, score, plan, mrr, currency."
    ),
    "cancellation_flow.completed": (
        "A cancellation flow ended: flow_id, customer_id, reason, comment, variant, outcome "
        "(accepted, declined, abandoned), offer (offer_id, kind, title, params applied), "
        "cancel_effective_at, decided_at, event_id."
    ),
}

TEST_EVENT_TYPE = "webhook.test"
"""Sent by ``POST /v1/webhooks/{id}/test`` to that one endpoint; never subscribed to."""

WILDCARD = "*"
"""A subscription to every type in :data:`EVENT_TYPES`, including types added later."""

MAX_TYPE_LENGTH = 64


def is_subscribable(event_type: str) -> bool:
    """True for a known event type or the wildcard."""
    return event_type == WILDCARD or event_type in EVENT_TYPES


def normalize_subscription(event_types: Iterable[str]) -> list[str]:
    """The subscription as stored: sorted, without duplicates, and just ``["*"]`` when the
    wildcard is present (it already covers every other type)."""
    unique = set(event_types)
    if WILDCARD in unique:
        return [WILDCARD]
    return sorted(unique)
