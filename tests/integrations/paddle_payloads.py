"""Paddle Billing notifications for tests, shaped like those Paddle sends (after the notification
fixtures of PaddleHQ/paddle-python-sdk, tests/Unit/Entities/_fixtures/notification, and Paddle's
API reference), signed with the SDK's own HMAC helper the way Paddle signs them."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from paddle_billing.Notifications import PaddleSignature

SECRET = "pdl_ntfset_01hs0t3tw21j988db1pam5xg8m_Zq8tTu1XbPdVQmrs3YhR7cYk1FwA3nE2"
CUSTOMER = "ctm_01hv6y1jedq4p1n0yqn5ba3ky4"
SUBSCRIPTION = "sub_01hv8x29kz0t586xy6zn1a62ny"

# Paddle's own published example (paddle-python-sdk examples/webhook_verification.py): this
# body, secret and header verify.
EXAMPLE_SECRET = "pdl_ntfset_01hs0t3tw21j988db1pam5xg8m_GrOWLNef+vmtjJYq4mSnHNzvc8uWoJ1I"
EXAMPLE_HEADER = "ts=1710498758;h1=558bf93944dbeb4790c7a8af6cb2ea435c8ca9c8396aafc1a4e37424ac132744"
EXAMPLE_BODY = (
    b'{"data":{"id":"ctm_01hs0tqf76sxmp7ba5e4mw1sc8","name":"John Doe","email":'
    b'"blackhole+verification2@paddle.com","locale":"en","status":"active","created_at":'
    b'"2024-03-15T10:32:37.862Z","updated_at":"2024-03-15T10:32:37.862Z","custom_data":null,'
    b'"import_meta":null,"marketing_consent":false},"event_id":"evt_01hs0tqfme2xwb2hvwv87p8y3w",'
    b'"event_type":"customer.created","occurred_at":"2024-03-15T10:32:38.286848Z",'
    b'"notification_id":"ntf_01hs0tqfrhgkyp39x4wyvy7h6n"}'
)


def iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def price(
    price_id: str = "pri_01gsz8x8sawmvhz1pv30nge1ke",
    amount: int = 3000,
    interval: str | None = "month",
    frequency: int = 1,
    currency: str = "USD",
) -> dict[str, Any]:
    return {
        "id": price_id,
        "name": "Monthly (per seat)",
        "type": "standard",
        "status": "active",
        "quantity": {"maximum": 999, "minimum": 1},
        "tax_mode": "account_setting",
        "created_at": "2023-02-23T13:55:22.538367Z",
        "product_id": "pro_01gsz4t5hdjse780zja8vvr7jg",
        "unit_price": {"amount": str(amount), "currency_code": currency},
        "updated_at": "2024-04-11T13:54:52.254748Z",
        "custom_data": None,
        "description": "Monthly",
        "import_meta": None,
        "trial_period": None,
        "billing_cycle": (
            {"interval": interval, "frequency": frequency} if interval is not None else None
        ),
        "unit_price_overrides": [],
    }


def item(p: dict[str, Any], quantity: int = 1, status: str = "active") -> dict[str, Any]:
    return {
        "price": p,
        "product": {
            "id": p["product_id"],
            "name": "AeroEdit Pro",
            "type": "standard",
            "tax_category": "standard",
            "status": "active",
            "custom_data": None,
            "import_meta": None,
            "created_at": "2023-02-23T12:43:46.605000Z",
            "updated_at": "2024-04-05T15:53:44.687000Z",
        },
        "status": status,
        "quantity": quantity,
        "recurring": p["billing_cycle"] is not None,
        "created_at": "2024-04-12T10:38:00.761000Z",
        "updated_at": "2024-04-12T10:49:38.760000Z",
        "trial_dates": None,
        "next_billed_at": None,
        "previously_billed_at": None,
    }


def subscription(
    status: str = "active",
    items: list[dict[str, Any]] | None = None,
    *,
    customer: str = CUSTOMER,
    started: datetime | None = None,
    scheduled_change: dict[str, Any] | None = None,
    paused_at: datetime | None = None,
    canceled_at: datetime | None = None,
    currency: str = "USD",
) -> dict[str, Any]:
    return {
        "id": SUBSCRIPTION,
        "items": items if items is not None else [item(price(), quantity=20)],
        "status": status,
        "discount": None,
        "paused_at": iso(paused_at) if paused_at else None,
        "address_id": "add_01hv8gq3318ktkfengj2r75gfx",
        "created_at": iso(started) if started else "2024-04-12T10:38:00.761000Z",
        "started_at": iso(started) if started else "2024-04-12T10:37:59.556997Z",
        "updated_at": "2024-04-12T10:49:38.771000Z",
        "business_id": None,
        "canceled_at": iso(canceled_at) if canceled_at else None,
        "custom_data": None,
        "customer_id": customer,
        "import_meta": None,
        "billing_cycle": {"interval": "month", "frequency": 1},
        "currency_code": currency,
        "next_billed_at": None,
        "billing_details": None,
        "collection_mode": "automatic",
        "first_billed_at": None,
        "scheduled_change": scheduled_change,
        "current_billing_period": None,
    }


def scheduled(action: str, effective_at: datetime) -> dict[str, Any]:
    return {"action": action, "effective_at": iso(effective_at), "resume_at": None}


def transaction(
    grand_total: int,
    *,
    customer: str = CUSTOMER,
    status: str = "completed",
    error_code: str | None = None,
    currency: str = "USD",
) -> dict[str, Any]:
    payments = []
    if error_code is not None:
        payments = [
            {
                "amount": str(grand_total),
                "status": "error",
                "created_at": "2024-04-12T10:15:57.888183Z",
                "error_code": error_code,
                "captured_at": None,
                "method_details": {"type": "card", "card": {"type": "visa", "last4": "0002"}},
                "payment_method_id": "paymtd_01hv8wx2mka7dfsqjjsxh1ne7z",
                "payment_attempt_id": "8f72cfa6-26b4-4a57-91dc-8f2708f7822d",
                "stored_payment_method_id": "a78ece50-356f-4e0c-b72d-ad5368b0a0d9",
            }
        ]
    return {
        "id": "txn_01hv8wptq8987qeep44cyrewp9",
        "items": [{"price": price(), "quantity": 1, "proration": None}],
        "origin": "subscription_recurring",
        "status": status,
        "details": {
            "totals": {
                "fee": None,
                "tax": "0",
                "total": str(grand_total),
                "credit": "0",
                "balance": "0",
                "discount": "0",
                "earnings": None,
                "subtotal": str(grand_total),
                "grand_total": str(grand_total),
                "currency_code": currency,
                "credit_to_balance": "0",
                "grand_total_tax": "0",
            },
            "line_items": [],
        },
        "payments": payments,
        "billed_at": None,
        "created_at": "2024-04-12T10:12:33.201400Z",
        "invoice_id": None,
        "customer_id": customer,
        "currency_code": currency,
        "collection_mode": "automatic",
        "subscription_id": SUBSCRIPTION,
    }


def notification(
    event_type: str, data: dict[str, Any], occurred_at: datetime, event_id: str
) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "event_type": event_type,
        "occurred_at": iso(occurred_at),
        "notification_id": "ntf_" + event_id.removeprefix("evt_"),
        "data": data,
    }


def signed(
    payload: dict[str, Any], secret: str = SECRET, timestamp: int | None = None
) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload).encode()
    ts = int(time.time()) if timestamp is None else timestamp
    h1 = PaddleSignature.calculate_hmac(secret, f"{ts}:".encode() + body).hexdigest()
    return body, {"Paddle-Signature": f"ts={ts};h1={h1}", "Content-Type": "application/json"}
