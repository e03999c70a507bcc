"""Chargebee webhook events -> Holdfast event payloads (pure: dicts in, dicts out, no I/O).

An event is ``{id, occurred_at (unix seconds), event_type, api_version, content: {subscription,
customer, invoice, transaction, ...}}``; its resources are read with the ``chargebee`` library's
response models (``SubscriptionResponse``, ``TransactionResponse``, ...). The Chargebee customer
id is the Holdfast customer id, ``occurred_at`` is the event's, and each payload's idempotency key
is ``chargebee:<event id>:<suffix>``: a redelivery is a duplicate, and the suffixes order the
payloads of one event among themselves.

**Subscriptions restate their state.** Chargebee sends the whole subscription with every
subscription event, so each handled one is mapped from the subscription's ``status``:

* ``active``: ``1-plan`` ``plan_change`` (plan = first plan item's ``item_price_id``, or the
  ``plan_id`` of Product Catalog 1.0; ``mrr`` from the items, see :func:`subscription_mrr`), then
  ``2-resume`` ``resume`` (ends a pause, withdraws a pending cancellation, brings a cancelled
  customer back; nothing for a customer already active without one).
* ``non_renewing`` (cancellation scheduled for the end of the term): the same, then
  ``3-cancel`` ``cancellation`` pending until ``cancelled_at`` (the term end).
* ``paused``: ``1-plan`` and ``2-pause`` ``pause`` with ``resume_at`` = ``resume_date``.
* ``cancelled``: ``3-cancel`` ``cancellation`` effective at ``cancelled_at``.
* ``in_trial``, ``future`` and anything else: nothing (a trial that never converts is not churn).

**Payments:** ``payment_succeeded`` is a ``purchase`` of the transaction's ``amount`` (zero
records nothing); ``payment_failed`` a ``payment_failed`` of it, with its ``error_code``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fractions import Fraction
from functools import cache
from typing import Any

from app.events.schemas import ID_PATTERN
from app.integrations.common import MappingError, integration_key, monthly, truncate

SUBSCRIPTION_TYPES = frozenset(
    {
        "subscription_created",
        "subscription_started",
        "subscription_activated",
        "subscription_changed",
        "subscription_cancellation_scheduled",
        "subscription_scheduled_cancellation_removed",
        "subscription_cancelled",
        "subscription_paused",
        "subscription_resumed",
        "subscription_reactivated",
    }
)
PAYMENT_TYPES = frozenset({"payment_succeeded", "payment_failed"})
HANDLED_TYPES = SUBSCRIPTION_TYPES | PAYMENT_TYPES
STARTED = frozenset({"active", "non_renewing"})
# Items of these types recur; charges are one-off.
RECURRING_ITEM_TYPES = frozenset({"plan", "addon"})
MAX_UNIX = 253402300799  # 9999-12-31T23:59:59Z
_ID = re.compile(ID_PATTERN)


@cache
def _models() -> Any:
    """The library's response models, imported on first use: importing ``chargebee`` loads its
    whole API (hundreds of modules, seconds on a busy machine), which every CLI command and
    server start would otherwise pay."""
    from chargebee.models.invoice.responses import InvoiceResponse
    from chargebee.models.subscription.responses import SubscriptionResponse
    from chargebee.models.transaction.responses import TransactionResponse

    return SubscriptionResponse, TransactionResponse, InvoiceResponse


def read_subscription(raw: Mapping[str, Any]) -> Any:
    """A subscription as the library's ``SubscriptionResponse`` (items hydrated)."""
    return _models()[0].construct(dict(raw))


@dataclass(frozen=True)
class Mapped:
    handled: bool
    payloads: list[dict[str, Any]] = field(default_factory=list)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def instant(value: Any, loc: tuple[str | int, ...]) -> datetime:
    """Unix seconds (Chargebee's timestamps) as an aware UTC datetime."""
    seconds = _int(value)
    if seconds is None or not 0 <= seconds <= MAX_UNIX:
        raise MappingError(loc, "must be a unix timestamp in seconds")
    return datetime.fromtimestamp(seconds, UTC)


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _usable_id(value: Any) -> str | None:
    if isinstance(value, str) and 0 < len(value) <= 200 and _ID.match(value):
        return value
    return None


# -- MRR -----------------------------------------------------------------------------------------


def _item_amount(amount: Any, unit_price: Any, quantity: Any) -> int | None:
    """An item's price per billing period: ``amount`` when Chargebee gives it (it accounts for
    tiers), else unit price x quantity (1 when absent)."""
    if (total := _int(amount)) is not None:
        return total
    unit = _int(unit_price)
    if unit is None:
        return None
    qty = _int(quantity)
    return unit * (qty if qty is not None else 1)


def _priced_items(sub: Any) -> list[tuple[str | None, int, str | None, int | None]]:
    """``(price id, amount per period, period unit, period)`` of each recurring item: Product
    Catalog 2.0 ``subscription_items`` (plans and addons), else 1.0's plan and ``addons``."""
    out: list[tuple[str | None, int, str | None, int | None]] = []
    items = sub.subscription_items
    if isinstance(items, list) and items:
        for item in items:
            if not hasattr(item, "item_type") or item.item_type not in RECURRING_ITEM_TYPES:
                continue
            amount = _item_amount(item.amount, item.unit_price, item.quantity)
            if amount is not None:
                unit = item.billing_period_unit
                out.append(
                    (
                        item.item_price_id if item.item_type == "plan" else None,
                        amount,
                        unit if isinstance(unit, str) else None,
                        _int(item.billing_period),
                    )
                )
        return out
    plan = _item_amount(sub.plan_amount, sub.plan_unit_price, sub.plan_quantity)
    if plan is not None:
        out.append((sub.plan_id, plan, None, None))
    addons = sub.addons if isinstance(sub.addons, list) else []
    for addon in addons:
        if hasattr(addon, "quantity"):
            amount = _item_amount(addon.amount, addon.unit_price, addon.quantity)
            if amount is not None:
                out.append((None, amount, None, None))
    return out


def subscription_mrr(sub: Any) -> int:
    """A subscription's MRR in minor units: the sum over its plan and addon items of ``amount``
    (or unit price x quantity) per billing period, normalised to a month from the item's (else
    the subscription's) ``billing_period`` ``billing_period_unit`` as for Stripe (a year is 12
    months, a week 12/52, a day 12/365), summed exactly and rounded down once. One-off charges
    count 0; discounts and taxes are not applied (list price)."""
    total = Fraction(0)
    sub_unit = sub.billing_period_unit if isinstance(sub.billing_period_unit, str) else None
    sub_period = _int(sub.billing_period)
    for _, amount, unit, period in _priced_items(sub):
        interval = unit or sub_unit
        count = period or sub_period or 1
        if interval is None:
            continue
        try:
            total += monthly(Fraction(max(amount, 0)), interval, max(count, 1))
        except ValueError:
            continue
    return max(total.__floor__(), 0)


def _plan(sub: Any) -> str:
    for price_id, *_ in _priced_items(sub):
        if (usable := _usable_id(price_id)) is not None:
            return usable
    if (usable := _usable_id(sub.id)) is not None:
        return usable
    raise MappingError(("content", "subscription"), "the subscription has no usable plan id")


# -- payload builders ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Context:
    event_id: str
    occurred_at: datetime
    customer_id: str
    properties: dict[str, Any]

    def payload(self, suffix: str, kind: str, **fields: Any) -> dict[str, Any]:
        return {
            "idempotency_key": integration_key("chargebee", f"{self.event_id}:{suffix}"),
            "type": kind,
            "customer_id": self.customer_id,
            "occurred_at": _iso(self.occurred_at),
            "properties": dict(self.properties),
            **{name: value for name, value in fields.items() if value is not None},
        }

    def at(self, when: datetime) -> _Context:
        return _Context(self.event_id, when, self.customer_id, self.properties)


@dataclass(frozen=True)
class _Event:
    id: str
    type: str
    occurred_at: datetime
    content: Mapping[str, Any]


def _customer_id(event: _Event, *candidates: Any) -> str:
    customer = event.content.get("customer")
    if isinstance(customer, Mapping):
        candidates = (*candidates, customer.get("id"))
    for candidate in candidates:
        if isinstance(candidate, str) and candidate:
            return candidate
    raise MappingError(("content", "customer", "id"), "a customer id is required")


def _resource(event: _Event, name: str) -> Mapping[str, Any]:
    value = event.content.get(name)
    if not isinstance(value, Mapping):
        raise MappingError(("content", name), f"the event carries no {name}")
    return value


def _subscription(event: _Event) -> list[dict[str, Any]]:
    raw = _resource(event, "subscription")
    sub = read_subscription(raw)
    properties: dict[str, Any] = {"chargebee_event_type": event.type}
    if isinstance(sub.id, str):
        properties["chargebee_subscription"] = truncate(sub.id, 200)
    status = sub.status
    if isinstance(status, str):
        properties["chargebee_status"] = truncate(status, 64)
    ctx = _Context(event.id, event.occurred_at, _customer_id(event, sub.customer_id), properties)
    loc = ("content", "subscription")

    def plan_change() -> dict[str, Any]:
        currency = sub.currency_code
        return ctx.payload(
            "1-plan",
            "plan_change",
            plan=_plan(sub),
            mrr=subscription_mrr(sub),
            currency=currency.upper() if isinstance(currency, str) else None,
        )

    if status in STARTED:
        payloads = [plan_change(), ctx.payload("2-resume", "resume")]
        if status == "non_renewing":
            end = sub.cancelled_at if sub.cancelled_at is not None else sub.current_term_end
            effective = instant(end, (*loc, "cancelled_at"))
            payloads.append(
                ctx.payload(
                    "3-cancel", "cancellation", effective_at=_iso(max(effective, ctx.occurred_at))
                )
            )
        return payloads
    if status == "paused":
        resume = sub.resume_date
        resume_at = instant(resume, (*loc, "resume_date")) if resume is not None else None
        return [
            plan_change(),
            ctx.payload(
                "2-pause",
                "pause",
                resume_at=_iso(resume_at) if resume_at and resume_at > ctx.occurred_at else None,
            ),
        ]
    if status == "cancelled":
        ended = (
            instant(sub.cancelled_at, (*loc, "cancelled_at"))
            if sub.cancelled_at is not None
            else ctx.occurred_at
        )
        for name in ("cancel_reason", "cancel_reason_code"):
            if isinstance(value := getattr(sub, name), str):
                ctx.properties[f"chargebee_{name}"] = truncate(value, 200)
        # Cancelled before Chargebee recorded the event (the usual case): it happened then.
        return [
            ctx.at(min(ctx.occurred_at, ended)).payload(
                "3-cancel", "cancellation", effective_at=_iso(ended)
            )
        ]
    return []


def _payment(event: _Event) -> tuple[_Context, int, str, Any]:
    raw = _resource(event, "transaction")
    _, transaction_model, invoice_model = _models()
    txn = transaction_model.construct(dict(raw))
    invoice_raw = event.content.get("invoice")
    invoice = (
        invoice_model.construct(dict(invoice_raw)) if isinstance(invoice_raw, Mapping) else None
    )
    amount = _int(txn.amount)
    if amount is None or amount < 0:
        raise MappingError(("content", "transaction", "amount"), "must be an amount in minor units")
    currency = txn.currency_code
    if not isinstance(currency, str):
        raise MappingError(("content", "transaction", "currency_code"), "a currency is required")
    properties: dict[str, Any] = {"chargebee_event_type": event.type}
    if isinstance(txn.id, str):
        properties["chargebee_transaction"] = truncate(txn.id, 200)
    subscription = txn.subscription_id or (invoice.subscription_id if invoice else None)
    if isinstance(subscription, str):
        properties["chargebee_subscription"] = truncate(subscription, 200)
    if invoice is not None and isinstance(invoice.id, str):
        properties["chargebee_invoice"] = truncate(invoice.id, 200)
    customer = _customer_id(event, txn.customer_id, invoice.customer_id if invoice else None)
    ctx = _Context(event.id, event.occurred_at, customer, properties)
    return ctx, amount, currency.upper(), txn


def _payment_succeeded(event: _Event) -> list[dict[str, Any]]:
    ctx, amount, currency, _ = _payment(event)
    if amount == 0:
        return []
    return [ctx.payload("purchase", "purchase", amount=amount, currency=currency)]


def _payment_failed(event: _Event) -> list[dict[str, Any]]:
    ctx, amount, currency, txn = _payment(event)
    reason = truncate(txn.error_code, 64) if isinstance(txn.error_code, str) else None
    return [
        ctx.payload(
            "payment-failed",
            "payment_failed",
            amount=amount,
            currency=currency,
            reason=reason or None,
        )
    ]


_HANDLERS: Mapping[str, Callable[[_Event], list[dict[str, Any]]]] = {
    **dict.fromkeys(SUBSCRIPTION_TYPES, _subscription),
    "payment_succeeded": _payment_succeeded,
    "payment_failed": _payment_failed,
}


def map_event(event: Mapping[str, Any]) -> Mapped:
    """The Holdfast event payloads for one Chargebee event (see the module docstring). Raises
    :class:`MappingError` for a handled type whose payload lacks what the mapping needs."""
    event_type = event.get("event_type")
    handler = _HANDLERS.get(event_type) if isinstance(event_type, str) else None
    if handler is None:
        return Mapped(handled=False)
    event_id = event.get("id")
    if not isinstance(event_id, str) or not event_id:
        raise MappingError(("id",), "a Chargebee event id is required")
    content = event.get("content")
    if not isinstance(content, Mapping):
        raise MappingError(("content",), "the event carries no content")
    parsed = _Event(
        id=event_id,
        type=str(event_type),
        occurred_at=instant(event.get("occurred_at"), ("occurred_at",)),
        content=content,
    )
    return Mapped(handled=True, payloads=handler(parsed))
