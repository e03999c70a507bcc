"""Paddle Billing notifications -> Holdfast event payloads (pure: dicts in, dicts out, no I/O).

A notification is ``{event_id, event_type, occurred_at, notification_id, data}``. The Paddle
customer id (``ctm_...``) is the Holdfast customer id, ``occurred_at`` is the event's
``occurred_at`` (so the fold orders late and redelivered notifications by when they happened at
Paddle), and each payload's idempotency key is ``paddle:<event_id>:<suffix>``: a redelivery is
a duplicate. The suffixes order the payloads of one notification among themselves (the fold
breaks ties of ``occurred_at`` by key).

**Subscriptions restate their state.** Paddle sends the whole subscription with every
``subscription.*`` notification, not what changed, so every one of them (created, activated,
updated, paused, resumed, canceled) is mapped from the subscription's ``status``:

* ``active`` / ``past_due``: ``1-plan`` ``plan_change`` (plan = first recurring item's price
  id, ``mrr`` from the items, see :func:`subscription_mrr`), then ``2-resume`` ``resume``
  (ends a pause, reactivates a cancelled customer, withdraws a pending cancellation; for a
  customer already active without one it changes nothing), then, when ``scheduled_change`` is
  a ``cancel`` (cancel at the end of the billing period), ``3-cancel`` ``cancellation`` pending
  until its ``effective_at``.
* ``paused``: ``1-plan`` (the price to return to), ``2-pause`` ``pause`` with ``resume_at`` =
  the ``effective_at`` of a scheduled ``resume``, and ``3-cancel`` for a scheduled ``cancel``.
* ``canceled``: ``3-cancel`` ``cancellation`` effective at ``canceled_at``.
* ``trialing`` (and anything else): nothing; a trial counts from its activation, so a trial
  that never converts is never churn.

Restating a state the customer already has changes nothing in the fold, so the order in which
Paddle's notifications arrive does not matter: the newest ``occurred_at`` wins.

**Transactions:** ``transaction.completed`` is a ``purchase`` of ``details.totals.grand_total``
(zero-amount transactions, such as a trial's, record nothing); ``transaction.payment_failed`` is
a ``payment_failed`` of the same total, with the failed payment's ``error_code`` as reason.

Anything else is not handled (the endpoint answers 200 ``ignored``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction
from typing import Any

from app.events.schemas import ID_PATTERN
from app.integrations.common import (
    MappingError,
    integration_key,
    monthly,
    parse_time,
    truncate,
)

SUBSCRIPTION_TYPES = frozenset(
    {
        "subscription.created",
        "subscription.activated",
        "subscription.updated",
        "subscription.paused",
        "subscription.resumed",
        "subscription.canceled",
    }
)
TRANSACTION_TYPES = frozenset({"transaction.completed", "transaction.payment_failed"})
HANDLED_TYPES = SUBSCRIPTION_TYPES | TRANSACTION_TYPES
# Statuses in which a subscription is paid for; trialing ones are not yet.
STARTED = frozenset({"active", "past_due"})
_ID = re.compile(ID_PATTERN)
_AMOUNT = re.compile(r"^[0-9]{1,15}$")


@dataclass(frozen=True)
class Mapped:
    handled: bool
    payloads: list[dict[str, Any]] = field(default_factory=list)


def _loc(*path: str | int) -> tuple[str | int, ...]:
    return ("data", *path)


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _time(value: Any, loc: tuple[str | int, ...]) -> datetime:
    try:
        return parse_time(value)
    except ValueError as exc:
        raise MappingError(loc, str(exc)) from None


def _optional_time(value: Any, loc: tuple[str | int, ...]) -> datetime | None:
    return None if value is None else _time(value, loc)


def _usable_id(value: Any) -> str | None:
    if isinstance(value, str) and 0 < len(value) <= 200 and _ID.match(value):
        return value
    return None


def _amount(value: Any, loc: tuple[str | int, ...]) -> int:
    """Paddle's amounts: strings of integer minor units (``"3000"`` is 30.00 USD)."""
    if isinstance(value, str) and _AMOUNT.match(value):
        return int(value)
    raise MappingError(loc, "must be an amount in minor units, as a string of digits")


# -- MRR -----------------------------------------------------------------------------------------


def _recurring_items(sub: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    items = sub.get("items")
    if not isinstance(items, list):
        return []
    return [
        item
        for item in items
        if isinstance(item, Mapping)
        and item.get("recurring") is not False
        and item.get("status") != "inactive"
        and isinstance(item.get("price"), Mapping)
    ]


def subscription_mrr(sub: Mapping[str, Any]) -> int:
    """A subscription's MRR in minor units: the sum over its recurring items (not inactive) of
    ``price.unit_price.amount`` x ``quantity`` (1 when absent), normalised to a month from the
    price's ``billing_cycle`` (``interval`` day/week/month/year, every ``frequency``) as for
    Stripe (a year is 12 months, a week 12/52, a day 12/365), summed exactly and rounded down
    once. Items without a billing cycle (one-time prices) count 0; discounts, taxes and
    country price overrides are not applied (list price)."""
    total = Fraction(0)
    for item in _recurring_items(sub):
        price = item["price"]
        cycle = price.get("billing_cycle")
        unit_price = price.get("unit_price")
        if not isinstance(cycle, Mapping) or not isinstance(unit_price, Mapping):
            continue
        amount = unit_price.get("amount")
        interval, frequency = cycle.get("interval"), cycle.get("frequency")
        if not (isinstance(amount, str) and _AMOUNT.match(amount)) or not isinstance(interval, str):
            continue
        count = frequency if isinstance(frequency, int) and not isinstance(frequency, bool) else 1
        quantity = item.get("quantity")
        qty = quantity if isinstance(quantity, int) and not isinstance(quantity, bool) else 1
        try:
            total += monthly(Fraction(int(amount)) * max(qty, 0), interval, max(count, 1))
        except ValueError:
            continue
    return max(total.__floor__(), 0)


def _plan(sub: Mapping[str, Any]) -> str:
    for item in _recurring_items(sub):
        price_id = _usable_id(item["price"].get("id"))
        if price_id is not None:
            return price_id
    subscription_id = _usable_id(sub.get("id"))
    if subscription_id is not None:
        return subscription_id
    raise MappingError(_loc("items"), "the subscription has no usable price id")


# -- payload builders ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Context:
    event_id: str
    occurred_at: datetime
    customer_id: str
    properties: dict[str, Any]

    def payload(self, suffix: str, kind: str, **fields: Any) -> dict[str, Any]:
        return {
            "idempotency_key": integration_key("paddle", f"{self.event_id}:{suffix}"),
            "type": kind,
            "customer_id": self.customer_id,
            "occurred_at": _iso(self.occurred_at),
            "properties": dict(self.properties),
            **{name: value for name, value in fields.items() if value is not None},
        }


@dataclass(frozen=True)
class _Event:
    id: str
    type: str
    occurred_at: datetime
    data: Mapping[str, Any]


def _context(event: _Event, id_property: str) -> _Context:
    customer = event.data.get("customer_id")
    if not isinstance(customer, str) or not customer:
        raise MappingError(_loc("customer_id"), "a customer id is required")
    properties: dict[str, Any] = {"paddle_event_type": event.type}
    if isinstance(event.data.get("id"), str):
        properties[id_property] = truncate(event.data["id"], 200)
    if isinstance(event.data.get("status"), str):
        properties["paddle_status"] = truncate(event.data["status"], 64)
    return _Context(event.id, event.occurred_at, customer, properties)


def _scheduled(sub: Mapping[str, Any], action: str) -> datetime | None:
    change = sub.get("scheduled_change")
    if not isinstance(change, Mapping) or change.get("action") != action:
        return None
    return _time(change.get("effective_at"), _loc("scheduled_change", "effective_at"))


def _pending_cancellation(ctx: _Context, sub: Mapping[str, Any]) -> list[dict[str, Any]]:
    effective = _scheduled(sub, "cancel")
    if effective is None:
        return []
    return [
        ctx.payload("3-cancel", "cancellation", effective_at=_iso(max(effective, ctx.occurred_at)))
    ]


def _plan_change(ctx: _Context, sub: Mapping[str, Any]) -> dict[str, Any]:
    currency = sub.get("currency_code")
    return ctx.payload(
        "1-plan",
        "plan_change",
        plan=_plan(sub),
        mrr=subscription_mrr(sub),
        currency=currency.upper() if isinstance(currency, str) else None,
    )


def _subscription(event: _Event) -> list[dict[str, Any]]:
    sub = event.data
    ctx = _context(event, "paddle_subscription")
    status = sub.get("status")
    if status in STARTED:
        return [
            _plan_change(ctx, sub),
            ctx.payload("2-resume", "resume"),
            *_pending_cancellation(ctx, sub),
        ]
    if status == "paused":
        resume_at = _scheduled(sub, "resume")
        pause = ctx.payload(
            "2-pause",
            "pause",
            resume_at=_iso(resume_at) if resume_at and resume_at > ctx.occurred_at else None,
        )
        return [_plan_change(ctx, sub), pause, *_pending_cancellation(ctx, sub)]
    if status == "canceled":
        ended = _optional_time(sub.get("canceled_at"), _loc("canceled_at")) or ctx.occurred_at
        # Canceled before Paddle sent the event (the usual case): it happened when it ended.
        at = _Context(ctx.event_id, min(ctx.occurred_at, ended), ctx.customer_id, ctx.properties)
        return [at.payload("3-cancel", "cancellation", effective_at=_iso(ended))]
    return []


def _total(txn: Mapping[str, Any]) -> tuple[int, str]:
    details = txn.get("details")
    totals = details.get("totals") if isinstance(details, Mapping) else None
    if not isinstance(totals, Mapping):
        raise MappingError(_loc("details", "totals"), "the transaction has no totals")
    amount = _amount(totals.get("grand_total"), _loc("details", "totals", "grand_total"))
    currency = totals.get("currency_code") or txn.get("currency_code")
    if not isinstance(currency, str):
        raise MappingError(_loc("currency_code"), "a currency is required")
    return amount, currency.upper()


def _transaction_context(event: _Event) -> _Context:
    ctx = _context(event, "paddle_transaction")
    subscription = event.data.get("subscription_id")
    if isinstance(subscription, str):
        ctx.properties["paddle_subscription"] = truncate(subscription, 200)
    origin = event.data.get("origin")
    if isinstance(origin, str):
        ctx.properties["paddle_origin"] = truncate(origin, 64)
    return ctx


def _transaction_completed(event: _Event) -> list[dict[str, Any]]:
    ctx = _transaction_context(event)
    amount, currency = _total(event.data)
    if amount == 0:
        return []
    return [ctx.payload("purchase", "purchase", amount=amount, currency=currency)]


def _failed_payment_code(txn: Mapping[str, Any]) -> str | None:
    """The ``error_code`` of the newest failed payment attempt."""
    payments = txn.get("payments")
    failed = [
        p
        for p in (payments if isinstance(payments, list) else [])
        if isinstance(p, Mapping) and isinstance(p.get("error_code"), str) and p["error_code"]
    ]
    failed.sort(key=lambda p: str(p.get("created_at") or ""), reverse=True)
    return truncate(failed[0]["error_code"], 64) if failed else None


def _transaction_payment_failed(event: _Event) -> list[dict[str, Any]]:
    ctx = _transaction_context(event)
    amount, currency = _total(event.data)
    return [
        ctx.payload(
            "payment-failed",
            "payment_failed",
            amount=amount,
            currency=currency,
            reason=_failed_payment_code(event.data),
        )
    ]


_HANDLERS: Mapping[str, Callable[[_Event], list[dict[str, Any]]]] = {
    **dict.fromkeys(SUBSCRIPTION_TYPES, _subscription),
    "transaction.completed": _transaction_completed,
    "transaction.payment_failed": _transaction_payment_failed,
}


def map_event(event: Mapping[str, Any]) -> Mapped:
    """The Holdfast event payloads for one Paddle notification (see the module docstring).
    Raises :class:`MappingError` for a handled type whose payload lacks what the mapping
    needs."""
    event_type = event.get("event_type")
    handler = _HANDLERS.get(event_type) if isinstance(event_type, str) else None
    if handler is None:
        return Mapped(handled=False)
    event_id = event.get("event_id")
    if not isinstance(event_id, str) or not event_id:
        raise MappingError(("event_id",), "a Paddle event id is required")
    data = event.get("data")
    if not isinstance(data, Mapping):
        raise MappingError(("data",), "the notification carries no data")
    parsed = _Event(
        id=event_id,
        type=str(event_type),
        occurred_at=_time(event.get("occurred_at"), ("occurred_at",)),
        data=data,
    )
    return Mapped(handled=True, payloads=handler(parsed))
