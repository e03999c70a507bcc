"""Chargebee webhook events for tests, shaped like those Chargebee sends (fields after the
``chargebee`` library's response models and Chargebee's API reference: an event with
``content.subscription`` / ``customer`` / ``transaction`` / ``invoice``; Product Catalog 2.0
``subscription_items``, or 1.0's ``plan_id`` and ``addons``)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

CUSTOMER = "16CRibSTR4kNS1Hvz"
SUBSCRIPTION = "16CRibSTR4kNR1HvQ"


def unix(when: datetime) -> int:
    return int(when.astimezone(UTC).timestamp())


def item(
    item_price_id: str = "pro-USD-Monthly",
    unit_price: int = 5000,
    quantity: int = 1,
    item_type: str = "plan",
    amount: int | None = None,
) -> dict[str, Any]:
    return {
        "item_price_id": item_price_id,
        "item_type": item_type,
        "quantity": quantity,
        "unit_price": unit_price,
        "amount": unit_price * quantity if amount is None else amount,
        "free_quantity": 0,
        "object": "subscription_item",
    }


def customer(customer_id: str = CUSTOMER) -> dict[str, Any]:
    return {
        "id": customer_id,
        "first_name": "Ada",
        "email": "ada@example.com",
        "auto_collection": "on",
        "net_term_days": 0,
        "allow_direct_debit": False,
        "created_at": 1517505731,
        "taxability": "taxable",
        "updated_at": 1517505731,
        "pii_cleared": "active",
        "channel": "web",
        "resource_version": 1517505731000,
        "deleted": False,
        "object": "customer",
        "card_status": "valid",
        "promotional_credits": 0,
        "refundable_credits": 0,
        "excess_payments": 0,
        "unbilled_charges": 0,
        "preferred_currency_code": "USD",
    }


def subscription(
    status: str = "active",
    items: list[dict[str, Any]] | None = None,
    *,
    customer_id: str = CUSTOMER,
    billing_period: int = 1,
    billing_period_unit: str = "month",
    started: datetime | None = None,
    term_end: datetime | None = None,
    cancelled_at: datetime | None = None,
    pause_date: datetime | None = None,
    resume_date: datetime | None = None,
    currency: str = "USD",
) -> dict[str, Any]:
    sub: dict[str, Any] = {
        "id": SUBSCRIPTION,
        "billing_period": billing_period,
        "billing_period_unit": billing_period_unit,
        "customer_id": customer_id,
        "status": status,
        "current_term_start": unix(started) if started else 1517505643,
        "current_term_end": unix(term_end) if term_end else 1519924843,
        "next_billing_at": unix(term_end) if term_end else 1519924843,
        "created_at": unix(started) if started else 1517505643,
        "started_at": unix(started) if started else 1517505643,
        "activated_at": unix(started) if started else 1517505643,
        "updated_at": 1517505643,
        "has_scheduled_changes": False,
        "channel": "web",
        "resource_version": 1517505643000,
        "deleted": False,
        "object": "subscription",
        "currency_code": currency,
        "subscription_items": items if items is not None else [item()],
        "due_invoices_count": 0,
        "mrr": 0,
    }
    if cancelled_at is not None:
        sub["cancelled_at"] = unix(cancelled_at)
    if pause_date is not None:
        sub["pause_date"] = unix(pause_date)
    if resume_date is not None:
        sub["resume_date"] = unix(resume_date)
    return sub


def transaction(
    amount: int,
    *,
    status: str = "success",
    customer_id: str = CUSTOMER,
    error_code: str | None = None,
    currency: str = "USD",
) -> dict[str, Any]:
    txn: dict[str, Any] = {
        "id": "txn_16CRibSTR4kNTEHwG",
        "customer_id": customer_id,
        "subscription_id": SUBSCRIPTION,
        "gateway_account_id": "gw_16CKmRSTR4kAdw2R",
        "payment_source_id": "pm_16CRibSTR4kNS1Hw9",
        "payment_method": "card",
        "gateway": "chargebee",
        "type": "payment",
        "date": 1517505731,
        "exchange_rate": 1.0,
        "amount": amount,
        "id_at_gateway": "cb___dev__KyVnqiSTR4kNTpB4",
        "status": status,
        "updated_at": 1517505731,
        "resource_version": 1517505731000,
        "deleted": False,
        "object": "transaction",
        "masked_card_number": "************1111",
        "currency_code": currency,
        "base_currency_code": currency,
        "amount_unused": 0,
        "linked_invoices": [
            {"invoice_id": "1", "applied_amount": amount, "invoice_status": "paid"}
        ],
    }
    if error_code is not None:
        txn["error_code"] = error_code
        txn["error_text"] = "Card declined"
    return txn


def invoice(total: int, *, customer_id: str = CUSTOMER) -> dict[str, Any]:
    return {
        "id": "1",
        "customer_id": customer_id,
        "subscription_id": SUBSCRIPTION,
        "recurring": True,
        "status": "paid",
        "price_type": "tax_exclusive",
        "date": 1517505643,
        "total": total,
        "amount_paid": total,
        "amount_adjusted": 0,
        "write_off_amount": 0,
        "credits_applied": 0,
        "amount_due": 0,
        "currency_code": "USD",
        "object": "invoice",
    }


def event(
    event_type: str, content: dict[str, Any], occurred_at: datetime, event_id: str
) -> dict[str, Any]:
    return {
        "id": event_id,
        "occurred_at": unix(occurred_at),
        "source": "admin_console",
        "user": "ada@example.com",
        "object": "event",
        "api_version": "v2",
        "event_type": event_type,
        "webhook_status": "scheduled",
        "content": content,
    }


def subscription_event(
    event_type: str, occurred_at: datetime, event_id: str, **sub: Any
) -> dict[str, Any]:
    content = {
        "subscription": subscription(**sub),
        "customer": customer(sub.get("customer_id", CUSTOMER)),
    }
    return event(event_type, content, occurred_at, event_id)


def basic(username: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}
