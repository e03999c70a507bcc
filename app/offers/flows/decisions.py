"""What a cancellation flow decides, as plain data (pure: stdlib and Pydantic only).

The flow service gathers facts and rows; this module says what they mean: a flow's status at an
instant, the customer facts the offer rules read, what accepting an offer changes (the event
that records it and the parameters applied), and which repeated decisions are the same one.
"""

from __future__ import annotations

import calendar
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from app.offers.rules import CustomerFacts, RankedOffer

FLOW_TTL = timedelta(hours=24)
"""A flow not decided within this long after it started is abandoned."""

EVENT_SOURCE = "flow"


def add_months(at: datetime, months: int) -> datetime:
    """``at`` moved forward by ``months`` calendar months, at the same time of day; a day that
    the target month lacks becomes its last day (Jan 31 + 1 month = Feb 28/29), as billing
    systems count periods."""
    month_index = at.month - 1 + months
    year = at.year + month_index // 12
    month = month_index % 12 + 1
    day = min(at.day, calendar.monthrange(year, month)[1])
    return at.replace(year=year, month=month, day=day)


def discounted_price(base: int, percent: int) -> int:
    """``base`` minor units less ``percent`` percent, rounded down to a whole minor unit (a
    rounding cent goes to the customer, never against them)."""
    if not 0 <= percent <= 100:
        raise ValueError("percent must be between 0 and 100")
    return base * (100 - percent) // 100


def effective_status(status: str, expires_at: datetime, now: datetime) -> str:
    """A flow's status at ``now``: an ``open`` flow whose ``expires_at`` has come is
    ``abandoned`` (whether or not its row says so yet); every other status is final."""
    if status == "open" and expires_at <= now:
        return "abandoned"
    return status


def tenure_days(subscribed_at: datetime | None, now: datetime) -> int | None:
    """Whole days from the customer's first subscription to ``now`` (None if never)."""
    if subscribed_at is None:
        return None
    return max((now - subscribed_at).days, 0)


def shown_offer(offer: RankedOffer) -> dict[str, Any]:
    """The JSON a flow stores and returns for a ranked offer. ``params`` are resolved: a
    downgrade names its concrete target plan with its price and currency."""
    return {
        "offer_id": str(offer.offer.id),
        "kind": offer.offer.kind,
        "title": offer.offer.title,
        "description": offer.offer.description,
        "params": offer.params,
        "rank": offer.rank,
        "priority": offer.offer.priority,
        "save_rate": offer.save_rate,
    }


@dataclass(frozen=True, kw_only=True)
class CustomerSnapshot:
    """The customer as a flow sees it at ``now`` (its lifecycle projected to then)."""

    status: str
    plan: str | None
    plan_mrr: int
    mrr: int
    currency: str | None
    subscribed_at: datetime | None
    cancel_effective_at: datetime | None
    discount_until: datetime | None
    discount_base_mrr: int | None


def customer_facts(
    customer: CustomerSnapshot,
    *,
    now: datetime,
    reason: str,
    health_score: float | None,
    health_tier: str | None,
    pause_times: Iterable[datetime],
    accepted_offers: Iterable[tuple[str, datetime]],
) -> CustomerFacts:
    """The facts the offer rules read. ``mrr`` is the subscription's price (kept through a
    pause), as :class:`app.offers.rules.CustomerFacts` defines it."""
    return CustomerFacts(
        now=now,
        reason=reason,
        status=customer.status,
        plan=customer.plan,
        mrr=customer.plan_mrr,
        currency=customer.currency,
        tenure_days=tenure_days(customer.subscribed_at, now),
        health_score=health_score,
        health_tier=health_tier,
        pause_times=tuple(pause_times),
        accepted_offers=tuple(accepted_offers),
        discount_ends_at=customer.discount_until,
    )


class DecisionError(ValueError):
    """An acceptance that cannot be applied; ``loc`` names the request field at fault."""

    def __init__(self, message: str, loc: Sequence[str]) -> None:
        super().__init__(message)
        self.loc = list(loc)


@dataclass(frozen=True, kw_only=True)
class Application:
    """What accepting an offer does: ``params`` as applied (recorded on the flow and sent in
    the webhook) and the bodies of the events that record it for the customer, in order, as a
    client would post them to ``/v1/events`` (none for a custom offer: Holdfast cannot know
    what it means for billing)."""

    params: dict[str, Any]
    events: list[dict[str, Any]]


def event_key(flow_id: uuid.UUID, decision: str, step: int = 0) -> str:
    """The idempotency key of the ``step``-th event a decision records. Deterministic, so a
    decision can never be recorded twice, and ordered: the fold breaks ties in time by key."""
    suffix = f":{step}" if step else ""
    return f"flow:{flow_id}:{decision}{suffix}"


def _properties(flow_id: uuid.UUID, offer_id: str | None) -> dict[str, Any]:
    props: dict[str, Any] = {"cancellation_flow_id": str(flow_id)}
    if offer_id is not None:
        props["offer_id"] = offer_id
    return props


def apply_offer(
    offer: Mapping[str, Any],
    *,
    flow_id: uuid.UUID,
    customer_id: str,
    customer: CustomerSnapshot,
    now: datetime,
    months: int | None,
) -> Application:
    """The application of a shown ``offer`` (as stored by :func:`shown_offer`) accepted at
    ``now``:

    * pause: ``pause`` until ``now`` + ``months`` (the customer's choice within the offer's
      ``min_months``..``months``; the longest when not given);
    * downgrade: ``plan_change`` to the target plan at the price that was shown;
    * discount: ``plan_change`` on the current plan at the subscription price less ``percent``
      (:func:`discounted_price`) until ``now`` + the offer's ``months``, after which the price
      before it returns;
    * custom: nothing changes in billing state; the payload goes back to the caller.

    A customer with a pending cancellation who accepts an offer stays: while active, a
    ``resume`` withdrawing the cancellation is recorded first (its key sorts before the
    offer's, so the fold applies it first at the same instant).
    """
    kind = offer["kind"]
    params: Mapping[str, Any] = offer["params"]
    offer_id = offer["offer_id"]
    if months is not None and kind != "pause":
        raise DecisionError(
            f"months applies to pause offers only; this is a {kind} offer.", ["body", "months"]
        )
    props = _properties(flow_id, offer_id)
    events: list[dict[str, Any]] = []
    if kind != "custom" and customer.status == "active" and customer.cancel_effective_at:
        events.append(
            {
                "type": "resume",
                "idempotency_key": event_key(flow_id, "accept", 1),
                "customer_id": customer_id,
                "occurred_at": now,
                "properties": props,
            }
        )
    offer_key = event_key(flow_id, "accept", 2 if events else 0)
    applied: dict[str, Any]
    if kind == "pause":
        longest, shortest = int(params["months"]), int(params.get("min_months", 1))
        chosen = longest if months is None else months
        if not shortest <= chosen <= longest:
            raise DecisionError(
                f"This offer pauses for {shortest} to {longest} months.", ["body", "months"]
            )
        resume_at = add_months(now, chosen)
        events.append(
            {
                "type": "pause",
                "idempotency_key": offer_key,
                "customer_id": customer_id,
                "occurred_at": now,
                "resume_at": resume_at,
                "properties": props,
            }
        )
        applied = {"months": chosen, "resume_at": resume_at.isoformat()}
    elif kind == "downgrade":
        events.append(
            {
                "type": "plan_change",
                "idempotency_key": offer_key,
                "customer_id": customer_id,
                "occurred_at": now,
                "plan": params["target_plan_id"],
                "mrr": int(params["price"]),
                "currency": params["currency"],
                "properties": props,
            }
        )
        applied = {
            "from_plan": customer.plan,
            "target_plan_id": params["target_plan_id"],
            "price": int(params["price"]),
            "currency": params["currency"],
        }
    elif kind == "discount":
        if customer.plan is None:
            raise DecisionError("The customer has no plan to discount.", ["body", "offer_id"])
        base = (
            customer.discount_base_mrr
            if customer.discount_base_mrr is not None
            else customer.plan_mrr
        )
        percent, length = int(params["percent"]), int(params["months"])
        price = discounted_price(base, percent)
        until = add_months(now, length)
        events.append(
            {
                "type": "plan_change",
                "idempotency_key": offer_key,
                "customer_id": customer_id,
                "occurred_at": now,
                "plan": customer.plan,
                "mrr": price,
                "currency": customer.currency,
                "discount_until": until,
                "properties": props,
            }
        )
        applied = {
            "percent": percent,
            "months": length,
            "plan": customer.plan,
            "base_mrr": base,
            "mrr": price,
            "currency": customer.currency,
            "discount_until": until.isoformat(),
        }
    else:
        applied = {"payload": params.get("payload", {})}
    return Application(params=applied, events=events)


def decline_event(
    *,
    flow_id: uuid.UUID,
    customer_id: str,
    reason: str,
    comment: str | None,
    now: datetime,
    effective_at: datetime | None,
) -> dict[str, Any]:
    """The ``cancellation`` a decline records: the flow's reason and comment, effective at
    ``effective_at`` (pending until then) or at once."""
    body: dict[str, Any] = {
        "type": "cancellation",
        "idempotency_key": event_key(flow_id, "decline"),
        "customer_id": customer_id,
        "occurred_at": now,
        "reason": reason,
        "effective_at": effective_at or now,
        "properties": _properties(flow_id, None),
    }
    if comment:
        body["comment"] = comment
    return body


def same_acceptance(
    accepted_offer_id: uuid.UUID | None,
    accepted_params: Mapping[str, Any] | None,
    offer_id: uuid.UUID,
    months: int | None,
) -> bool:
    """Whether accepting ``offer_id`` (with ``months``) repeats the recorded acceptance: the
    same offer, and ``months`` omitted or the months that were applied."""
    if accepted_offer_id != offer_id:
        return False
    return months is None or (accepted_params or {}).get("months") == months


def same_decline(recorded_effective_at: datetime | None, effective_at: datetime | None) -> bool:
    """Whether declining (effective at ``effective_at``) repeats the recorded decline: the
    instant omitted or equal to the recorded one."""
    return effective_at is None or effective_at == recorded_effective_at
