"""Stripe events -> Holdfast event payloads (pure: dicts in, dicts out, no I/O).

Every payload is an ordinary event for ``POST /v1/events``: the service validates it with the
same schema and ingests it on the same path. The Stripe customer id (``cus_...``) is the
Holdfast customer id; the event's ``created`` time is ``occurred_at``, so the fold orders
redelivered and late events by when they happened at Stripe, not by arrival. Each payload's
idempotency key is ``stripe:<event id>:<suffix>``: a redelivery is a duplicate, and the suffixes
also order the payloads of one Stripe event among themselves (the fold breaks ties of
``occurred_at`` by key): ``1-plan`` before ``2-pause``/``2-unpause`` before
``3-cancel``/``3-uncancel``.

Mapping (one Stripe event may give several payloads):

* ``customer.subscription.created`` with status active, past_due or unpaid: ``plan_change``
  (plan = price id of the first item, ``mrr`` from the items, see :func:`subscription_mrr`) —
  for a lead that starts the subscription. Trialing and incomplete subscriptions give nothing
  until they become active (a trial that never converts never counts as churn); a cancellation
  already scheduled at creation gives a pending ``cancellation`` too.
* ``customer.subscription.updated``: compares the subscription with ``previous_attributes``:
  a new price or quantity (or trialing/incomplete -> active) gives ``plan_change``;
  ``cancel_at_period_end`` / ``cancel_at`` newly set gives a ``cancellation`` pending until
  ``cancel_at`` or the period end, and cleared gives a ``resume`` (which withdraws the pending
  cancellation in the fold); ``pause_collection`` set gives ``pause`` (``resume_at`` =
  ``resumes_at``) and cleared gives ``resume``.
* ``customer.subscription.deleted``: ``cancellation`` effective at ``ended_at`` with
  ``cancellation_details.feedback`` as reason (Stripe's feedback values are Holdfast's reasons)
  and its comment.
* ``customer.subscription.paused`` / ``customer.subscription.resumed``: ``pause`` / ``resume``.
* ``invoice.paid``: ``purchase`` of ``amount_paid`` (zero-amount invoices, such as a trial's
  first, record nothing: no money changed hands).
* ``invoice.payment_failed``: ``payment_failed`` of ``amount_due``.
* anything else: not handled (the endpoint answers 200 and logs it).

Holdfast keeps one subscription per customer: a Stripe customer with several subscriptions is
folded as if they were one, the latest event winning.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

from app.events.schemas import CANCELLATION_REASONS, ID_PATTERN
from app.integrations.common import MappingError, integration_key, monthly, truncate

HANDLED_TYPES = frozenset(
    {
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
        "customer.subscription.paused",
        "customer.subscription.resumed",
        "invoice.paid",
        "invoice.payment_failed",
    }
)
# Statuses in which a subscription is paid for; trialing and incomplete ones are not yet.
STARTED = frozenset({"active", "past_due", "unpaid"})
PRICED = STARTED | {"paused"}
MAX_UNIX = 253402300799  # 9999-12-31T23:59:59Z


@dataclass(frozen=True)
class Mapped:
    handled: bool
    payloads: list[dict[str, Any]] = field(default_factory=list)


def _loc(*path: str | int) -> tuple[str | int, ...]:
    return ("data", "object", *path)


def _id_of(value: Any) -> str | None:
    """An id given as a string or as an expanded object."""
    if isinstance(value, Mapping):
        value = value.get("id")
    return value if isinstance(value, str) and value else None


def instant(value: Any, loc: tuple[str | int, ...]) -> datetime:
    """Unix seconds (Stripe's timestamps) as an aware UTC datetime."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_UNIX:
        raise MappingError(loc, "must be a unix timestamp in seconds")
    return datetime.fromtimestamp(value, UTC)


def _optional_instant(value: Any, loc: tuple[str | int, ...]) -> datetime | None:
    return None if value is None else instant(value, loc)


_ID = re.compile(ID_PATTERN)


def _matches_id(value: str) -> bool:
    return len(value) <= 200 and _ID.match(value) is not None


def _customer(obj: Mapping[str, Any]) -> str:
    customer = _id_of(obj.get("customer"))
    if customer is None:
        raise MappingError(_loc("customer"), "a customer id is required")
    return customer


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


# -- MRR ----------------------------------------------------------------------------------------


def _unit_amount(price: Mapping[str, Any]) -> Fraction | None:
    for name in ("unit_amount", "amount"):  # price, then legacy plan
        value = price.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            return Fraction(value)
    for name in ("unit_amount_decimal", "amount_decimal"):
        value = price.get(name)
        if isinstance(value, str):
            try:
                decimal = Decimal(value)
            except InvalidOperation:
                continue
            if decimal.is_finite():
                return Fraction(decimal)
    return None


def _item_prices(subscription: Mapping[str, Any]) -> list[tuple[Mapping[str, Any], Any]]:
    """``(price, quantity)`` of each item: ``items.data`` (price, or the legacy ``plan`` on
    items), or for very old payloads the top-level ``plan`` and ``quantity``."""
    items = subscription.get("items")
    data = items.get("data") if isinstance(items, Mapping) else None
    if isinstance(data, list) and data:
        out = []
        for item in data:
            if not isinstance(item, Mapping):
                continue
            price = item.get("price") if isinstance(item.get("price"), Mapping) else None
            price = price or (item.get("plan") if isinstance(item.get("plan"), Mapping) else None)
            if price is not None:
                out.append((price, item.get("quantity")))
        return out
    plan = subscription.get("plan")
    if isinstance(plan, Mapping):
        return [(plan, subscription.get("quantity"))]
    return []


def _recurrence(price: Mapping[str, Any]) -> tuple[str | None, int, str | None]:
    recurring = price.get("recurring")
    source = recurring if isinstance(recurring, Mapping) else price  # legacy plan: top level
    interval = source.get("interval")
    count = source.get("interval_count")
    usage_type = source.get("usage_type")
    return (
        interval if isinstance(interval, str) else None,
        count if isinstance(count, int) and not isinstance(count, bool) and count >= 1 else 1,
        usage_type if isinstance(usage_type, str) else None,
    )


def subscription_mrr(subscription: Mapping[str, Any]) -> int:
    """A subscription's MRR in minor units: the sum over its licensed recurring items of unit
    amount x quantity (1 when absent) normalised to a month by :func:`monthly`, summed exactly
    and rounded down once to a whole minor unit (a 10000/year price is 833/month). Metered items
    and prices without a unit amount (tiered) count 0: their monthly value is not knowable from
    the subscription. Discounts and taxes are not applied (list price)."""
    total = Fraction(0)
    for price, quantity in _item_prices(subscription):
        interval, count, usage_type = _recurrence(price)
        unit = _unit_amount(price)
        if interval is None or unit is None or usage_type == "metered":
            continue
        qty = quantity if isinstance(quantity, int) and not isinstance(quantity, bool) else 1
        try:
            total += monthly(unit * max(qty, 0), interval, count)
        except ValueError:
            continue
    return max(total.__floor__(), 0)


def _plan(subscription: Mapping[str, Any]) -> str:
    for price, _ in _item_prices(subscription):
        price_id = _id_of(price)
        if price_id is not None and _matches_id(price_id):
            return price_id
    subscription_id = _id_of(subscription)
    if subscription_id is not None and _matches_id(subscription_id):
        return subscription_id
    raise MappingError(_loc("items"), "the subscription has no usable price id")


def _currency(subscription: Mapping[str, Any]) -> str | None:
    currency = subscription.get("currency")
    if not isinstance(currency, str):
        prices = _item_prices(subscription)
        currency = prices[0][0].get("currency") if prices else None
    return currency.upper() if isinstance(currency, str) else None


def _period_end(subscription: Mapping[str, Any]) -> int | None:
    """End of the current billing period: top level on older API versions, on each item since
    2025-03-31 (the latest of them when items differ)."""
    top = subscription.get("current_period_end")
    if isinstance(top, int) and not isinstance(top, bool):
        return top
    items = subscription.get("items")
    data = items.get("data") if isinstance(items, Mapping) else None
    ends = [
        item["current_period_end"]
        for item in (data if isinstance(data, list) else [])
        if isinstance(item, Mapping)
        and isinstance(item.get("current_period_end"), int)
        and not isinstance(item.get("current_period_end"), bool)
    ]
    return max(ends) if ends else None


def _scheduled_end(cancel_at_period_end: Any, cancel_at: Any) -> bool:
    return cancel_at_period_end is True or cancel_at is not None


# -- payload builders ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Context:
    event_id: str
    occurred_at: datetime
    customer_id: str
    properties: dict[str, Any]

    def payload(
        self, suffix: str, kind: str, *, extra: Mapping[str, Any] | None = None, **fields: Any
    ) -> dict[str, Any]:
        return {
            "idempotency_key": integration_key("stripe", f"{self.event_id}:{suffix}"),
            "type": kind,
            "customer_id": self.customer_id,
            "occurred_at": _iso(self.occurred_at),
            "properties": {**self.properties, **(extra or {})},
            **{k: v for k, v in fields.items() if v is not None},
        }


def _subscription_context(event: _Event, sub: Mapping[str, Any]) -> _Context:
    properties: dict[str, Any] = {"stripe_event_type": event.type}
    if (sub_id := _id_of(sub)) is not None:
        properties["stripe_subscription"] = sub_id
    if isinstance(sub.get("status"), str):
        properties["stripe_status"] = sub["status"]
    return _Context(event.id, event.created, _customer(sub), properties)


def _plan_change(ctx: _Context, sub: Mapping[str, Any]) -> dict[str, Any]:
    return ctx.payload(
        "1-plan",
        "plan_change",
        plan=_plan(sub),
        mrr=subscription_mrr(sub),
        currency=_currency(sub),
    )


def _pending_cancellation(ctx: _Context, sub: Mapping[str, Any]) -> dict[str, Any]:
    cancel_at = sub.get("cancel_at")
    at = cancel_at if cancel_at is not None else _period_end(sub)
    if at is None:
        raise MappingError(
            _loc("cancel_at"), "a scheduled cancellation needs cancel_at or a period end"
        )
    effective = max(instant(at, _loc("cancel_at")), ctx.occurred_at)
    reason, comment = _feedback(sub)
    return ctx.payload(
        "3-cancel", "cancellation", reason=reason, comment=comment, effective_at=_iso(effective)
    )


def _feedback(sub: Mapping[str, Any]) -> tuple[str | None, str | None]:
    details = sub.get("cancellation_details")
    if not isinstance(details, Mapping):
        return None, None
    feedback = details.get("feedback")
    reason = None
    if isinstance(feedback, str):
        reason = feedback if feedback in CANCELLATION_REASONS else "other"
    comment = details.get("comment")
    return reason, truncate(comment, 2000) if isinstance(comment, str) and comment else None


def _pause(ctx: _Context, suffix: str, pause_collection: Any) -> dict[str, Any]:
    resume_at = None
    extra: dict[str, Any] = {}
    if isinstance(pause_collection, Mapping):
        resumes = _optional_instant(
            pause_collection.get("resumes_at"), _loc("pause_collection", "resumes_at")
        )
        if resumes is not None and resumes > ctx.occurred_at:
            resume_at = _iso(resumes)
        behavior = pause_collection.get("behavior")
        if isinstance(behavior, str):
            extra["stripe_pause_behavior"] = behavior
    return ctx.payload(suffix, "pause", extra=extra, resume_at=resume_at)


# -- per event type ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Event:
    id: str
    type: str
    created: datetime
    obj: Mapping[str, Any]
    previous: Mapping[str, Any] | None


def _subscription_created(event: _Event) -> list[dict[str, Any]]:
    sub = event.obj
    ctx = _subscription_context(event, sub)
    if sub.get("status") not in STARTED:
        return []
    payloads = [_plan_change(ctx, sub)]
    if sub.get("pause_collection"):
        payloads.append(_pause(ctx, "2-pause", sub["pause_collection"]))
    if _scheduled_end(sub.get("cancel_at_period_end"), sub.get("cancel_at")):
        payloads.append(_pending_cancellation(ctx, sub))
    return payloads


def _subscription_updated(event: _Event) -> list[dict[str, Any]]:
    sub = event.obj
    ctx = _subscription_context(event, sub)
    status = sub.get("status")
    if status in {"canceled", "incomplete_expired"}:
        return []  # customer.subscription.deleted records the end
    # Without previous_attributes nothing says what changed: record the price as it stands.
    previous = event.previous if event.previous is not None else {"items": None}
    payloads: list[dict[str, Any]] = []

    price_changed = any(name in previous for name in ("items", "plan", "quantity"))
    started = "status" in previous and previous["status"] not in PRICED and status in STARTED
    if (price_changed and status in PRICED) or started:
        payloads.append(_plan_change(ctx, sub))

    paused_now = sub.get("pause_collection")
    if "pause_collection" in previous:
        paused_before = previous["pause_collection"]
        if paused_now and paused_now != paused_before:
            payloads.append(_pause(ctx, "2-pause", paused_now))
        elif not paused_now and paused_before:
            payloads.append(ctx.payload("2-unpause", "resume"))

    if "cancel_at_period_end" in previous or "cancel_at" in previous:
        before = _scheduled_end(
            previous.get("cancel_at_period_end", sub.get("cancel_at_period_end")),
            previous.get("cancel_at", sub.get("cancel_at")),
        )
        now = _scheduled_end(sub.get("cancel_at_period_end"), sub.get("cancel_at"))
        if now:
            payloads.append(_pending_cancellation(ctx, sub))
        elif before:
            payloads.extend(_withdraw_cancellation(ctx, sub))
    return payloads


def _withdraw_cancellation(ctx: _Context, sub: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A ``resume`` withdraws an active customer's pending cancellation. For a paused one the
    fold would read it as the end of the pause, so the pause is ended, the cancellation
    withdrawn and the pause restored (the end state is right; the history shows a resume and a
    pause at the same instant)."""
    if not sub.get("pause_collection") and sub.get("status") != "paused":
        return [ctx.payload("3-uncancel", "resume")]
    return [
        ctx.payload("3-uncancel-1", "resume"),
        ctx.payload("3-uncancel-2", "resume"),
        _pause(ctx, "3-uncancel-3", sub.get("pause_collection")),
    ]


def _subscription_deleted(event: _Event) -> list[dict[str, Any]]:
    sub = event.obj
    ctx = _subscription_context(event, sub)
    ended = sub.get("ended_at") if sub.get("ended_at") is not None else sub.get("canceled_at")
    ended_at = instant(ended, _loc("ended_at")) if ended is not None else event.created
    details = sub.get("cancellation_details")
    if isinstance(details, Mapping) and isinstance(details.get("reason"), str):
        ctx.properties["stripe_cancellation_reason"] = details["reason"]
    reason, comment = _feedback(sub)
    # Ended before Stripe created the event (the usual case): it happened when it ended.
    ctx = _Context(ctx.event_id, min(event.created, ended_at), ctx.customer_id, ctx.properties)
    return [
        ctx.payload(
            "3-cancel", "cancellation", reason=reason, comment=comment, effective_at=_iso(ended_at)
        )
    ]


def _subscription_paused(event: _Event) -> list[dict[str, Any]]:
    ctx = _subscription_context(event, event.obj)
    return [_pause(ctx, "2-pause", event.obj.get("pause_collection"))]


def _subscription_resumed(event: _Event) -> list[dict[str, Any]]:
    ctx = _subscription_context(event, event.obj)
    return [ctx.payload("2-unpause", "resume")]


def _invoice_context(event: _Event) -> _Context:
    invoice = event.obj
    properties: dict[str, Any] = {"stripe_event_type": event.type}
    if (invoice_id := _id_of(invoice)) is not None:
        properties["stripe_invoice"] = invoice_id
    if (subscription := invoice_subscription(invoice)) is not None:
        properties["stripe_subscription"] = subscription
    if isinstance(invoice.get("billing_reason"), str):
        properties["stripe_billing_reason"] = invoice["billing_reason"]
    return _Context(event.id, event.created, _customer(invoice), properties)


def invoice_subscription(invoice: Mapping[str, Any]) -> str | None:
    """The invoice's subscription: ``parent.subscription_details.subscription`` since API
    2025-03-31, the top-level ``subscription`` before."""
    parent = invoice.get("parent")
    if isinstance(parent, Mapping):
        details = parent.get("subscription_details")
        if isinstance(details, Mapping) and (found := _id_of(details.get("subscription"))):
            return found
    return _id_of(invoice.get("subscription"))


def _money(invoice: Mapping[str, Any], name: str) -> tuple[int, str]:
    amount = invoice.get(name)
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise MappingError(_loc(name), "must be an integer amount in minor units")
    currency = invoice.get("currency")
    if not isinstance(currency, str):
        raise MappingError(_loc("currency"), "a currency is required")
    return amount, currency.upper()


def _invoice_paid(event: _Event) -> list[dict[str, Any]]:
    ctx = _invoice_context(event)
    amount, currency = _money(event.obj, "amount_paid")
    if amount == 0:
        return []
    return [ctx.payload("purchase", "purchase", amount=amount, currency=currency)]


def _invoice_payment_failed(event: _Event) -> list[dict[str, Any]]:
    ctx = _invoice_context(event)
    amount, currency = _money(event.obj, "amount_due")
    invoice = event.obj
    attempts = invoice.get("attempt_count")
    if isinstance(attempts, int) and not isinstance(attempts, bool):
        ctx.properties["stripe_attempt_count"] = attempts
    next_attempt = _optional_instant(
        invoice.get("next_payment_attempt"), _loc("next_payment_attempt")
    )
    if next_attempt is not None:
        ctx.properties["stripe_next_payment_attempt"] = _iso(next_attempt)
    return [ctx.payload("payment-failed", "payment_failed", amount=amount, currency=currency)]


_HANDLERS: Mapping[str, Callable[[_Event], list[dict[str, Any]]]] = {
    "customer.subscription.created": _subscription_created,
    "customer.subscription.updated": _subscription_updated,
    "customer.subscription.deleted": _subscription_deleted,
    "customer.subscription.paused": _subscription_paused,
    "customer.subscription.resumed": _subscription_resumed,
    "invoice.paid": _invoice_paid,
    "invoice.payment_failed": _invoice_payment_failed,
}


def map_event(event: Mapping[str, Any]) -> Mapped:
    """The Holdfast event payloads for one Stripe event (see the module docstring). Raises
    :class:`MappingError` for a handled type whose payload lacks what the mapping needs."""
    event_type = event.get("type")
    handler = _HANDLERS.get(event_type) if isinstance(event_type, str) else None
    if handler is None:
        return Mapped(handled=False)
    event_id = event.get("id")
    if not isinstance(event_id, str) or not event_id:
        raise MappingError(("id",), "a Stripe event id is required")
    data = event.get("data")
    obj = data.get("object") if isinstance(data, Mapping) else None
    if not isinstance(obj, Mapping):
        raise MappingError(("data", "object"), "the event carries no object")
    previous = data.get("previous_attributes") if isinstance(data, Mapping) else None
    parsed = _Event(
        id=event_id,
        type=str(event_type),
        created=instant(event.get("created"), ("created",)),
        obj=obj,
        previous=previous if isinstance(previous, Mapping) else None,
    )
    return Mapped(handled=True, payloads=handler(parsed))
