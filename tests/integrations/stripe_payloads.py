"""Stripe-shaped payloads for tests: the fields Stripe sends (after stripe/openapi's
fixtures3.json), in the current API shape (periods on items, invoice -> subscription through
``parent``) or the older one (top-level period, ``plan`` and ``quantity``,
``invoice.subscription``).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import stripe

SECRET = "whsec_test_2f0a1c9e8b7d6a5f4e3d2c1b0a9f8e7d"
PERIOD = 30 * 86400


def unix(when: datetime) -> int:
    return int(when.astimezone(UTC).timestamp())


def price(
    price_id: str = "price_pro",
    unit_amount: int | None = 4900,
    interval: str = "month",
    interval_count: int = 1,
    currency: str = "usd",
    usage_type: str = "licensed",
) -> dict[str, Any]:
    return {
        "id": price_id,
        "object": "price",
        "active": True,
        "billing_scheme": "per_unit" if unit_amount is not None else "tiered",
        "created": 1721948530,
        "currency": currency,
        "livemode": False,
        "lookup_key": None,
        "metadata": {},
        "nickname": None,
        "product": "prod_QXg1hqf4jFNsqG",
        "recurring": {
            "interval": interval,
            "interval_count": interval_count,
            "meter": None,
            "usage_type": usage_type,
            "trial_period_days": None,
        },
        "tax_behavior": "unspecified",
        "tiers_mode": None if unit_amount is not None else "graduated",
        "type": "recurring",
        "unit_amount": unit_amount,
        "unit_amount_decimal": str(unit_amount) if unit_amount is not None else None,
    }


def item(
    p: dict[str, Any], quantity: int = 1, period_start: int = 0, period_end: int = 0
) -> dict[str, Any]:
    return {
        "id": f"si_{p['id']}",
        "object": "subscription_item",
        "created": 1721954054,
        "discounts": [],
        "metadata": {},
        "price": p,
        "quantity": quantity,
        "subscription": "sub_1",
        "tax_rates": [],
        "current_period_start": period_start,
        "current_period_end": period_end,
    }


def subscription(
    customer: str = "cus_1",
    *,
    start: datetime,
    items: list[tuple[dict[str, Any], int]] | None = None,
    status: str = "active",
    cancel_at_period_end: bool = False,
    cancel_at: int | None = None,
    pause_collection: dict[str, Any] | None = None,
    feedback: str | None = None,
    comment: str | None = None,
    ended_at: int | None = None,
    legacy: bool = False,
    sub_id: str = "sub_1",
) -> dict[str, Any]:
    """A subscription object. ``legacy``: the pre-2025-03-31 shape (period at the top level,
    single ``plan`` and ``quantity``)."""
    begin = unix(start)
    end = begin + PERIOD
    items = items if items is not None else [(price(), 1)]
    sub: dict[str, Any] = {
        "id": sub_id,
        "object": "subscription",
        "application": None,
        "billing_cycle_anchor": begin,
        "cancel_at": cancel_at,
        "cancel_at_period_end": cancel_at_period_end,
        "canceled_at": ended_at,
        "cancellation_details": {"comment": comment, "feedback": feedback, "reason": None},
        "collection_method": "charge_automatically",
        "created": begin,
        "currency": items[0][0]["currency"],
        "customer": customer,
        "default_payment_method": None,
        "discounts": [],
        "ended_at": ended_at,
        "items": {
            "object": "list",
            "data": [item(p, q, begin, end) for p, q in items],
            "has_more": False,
            "url": f"/v1/subscription_items?subscription={sub_id}",
        },
        "latest_invoice": None,
        "livemode": False,
        "metadata": {},
        "pause_collection": pause_collection,
        "start_date": begin,
        "status": status,
        "test_clock": None,
        "trial_end": None,
        "trial_start": None,
    }
    if legacy:
        for entry in sub["items"]["data"]:
            del entry["current_period_start"], entry["current_period_end"]
        p, q = items[0]
        recurring = p["recurring"]
        sub["plan"] = {
            "id": p["id"],
            "object": "plan",
            "amount": p["unit_amount"],
            "currency": p["currency"],
            "interval": recurring["interval"],
            "interval_count": recurring["interval_count"],
            "usage_type": recurring["usage_type"],
        }
        sub["quantity"] = q
        sub["current_period_start"] = begin
        sub["current_period_end"] = end
        for entry in sub["items"]["data"]:
            entry["plan"] = sub["plan"]
            del entry["price"]
    return sub


def invoice(
    customer: str = "cus_1",
    *,
    amount_paid: int = 4900,
    amount_due: int = 4900,
    currency: str = "usd",
    subscription_id: str | None = "sub_1",
    legacy: bool = False,
    attempt_count: int = 1,
) -> dict[str, Any]:
    inv: dict[str, Any] = {
        "id": "in_1Pgc6tB7WZ01zgkWu9fdqL6I",
        "object": "invoice",
        "amount_due": amount_due,
        "amount_paid": amount_paid,
        "amount_remaining": amount_due - amount_paid,
        "attempt_count": attempt_count,
        "attempted": True,
        "billing_reason": "subscription_cycle",
        "collection_method": "charge_automatically",
        "created": 1721954054,
        "currency": currency,
        "customer": customer,
        "livemode": False,
        "next_payment_attempt": None,
        "status": "paid" if amount_paid else "open",
    }
    if legacy:
        inv["subscription"] = subscription_id
    else:
        inv["parent"] = {
            "quote_details": None,
            "subscription_details": {"metadata": {}, "subscription": subscription_id},
            "type": "subscription_details",
        }
    return inv


def event(
    event_type: str,
    obj: dict[str, Any],
    *,
    created: datetime,
    event_id: str = "evt_1",
    previous: dict[str, Any] | None = None,
) -> dict[str, Any]:
    data: dict[str, Any] = {"object": obj}
    if previous is not None:
        data["previous_attributes"] = previous
    return {
        "id": event_id,
        "object": "event",
        "api_version": "2025-03-31.basil",
        "created": unix(created),
        "data": data,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": "req_1", "idempotency_key": None},
        "type": event_type,
    }


def signed(
    payload: dict[str, Any], secret: str = SECRET, timestamp: int | None = None
) -> tuple[bytes, dict[str, str]]:
    """The body and headers Stripe would send, signed with the stripe library's test helper."""
    body = json.dumps(payload, indent=2)
    header = stripe.WebhookSignature.generate_signature_header(
        body, secret, timestamp=timestamp if timestamp is not None else int(time.time())
    )
    return body.encode(), {"Stripe-Signature": header, "Content-Type": "application/json"}
