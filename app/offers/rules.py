"""Offer eligibility rules, ranking and holdout assignment (pure: stdlib and Pydantic only).

Rules are data, never code: a list of conditions over what Holdfast knows about the customer
who wants to cancel, all of which must hold (an empty list always holds). Each condition is a
JSON object tagged by ``field``::

    {"field": "reason", "op": "in", "values": ["unused", "too_complex"]}
    {"field": "health_tier", "op": "not_in", "values": ["critical"]}
    {"field": "health_score", "op": ">=", "value": 40}
    {"field": "tenure_days", "op": ">=", "value": 183}
    {"field": "mrr", "op": ">=", "value": 5000, "currency": "USD"}
    {"field": "plan", "op": "in", "values": ["pro", "team"]}
    {"field": "pauses_in_last_days", "days": 365, "op": "<", "value": 1}
    {"field": "accepted_offers_of_kind", "kind": "discount", "days": 365, "op": "<", "value": 1}
    {"field": "has_active_discount", "op": "=", "value": false}

A condition about a fact Holdfast does not know for this customer (no health score yet, no
plan, no cancellation reason) does not hold, whatever its operator: an offer aimed at a
described customer is never shown to an undescribed one.
"""

from __future__ import annotations

import hashlib
import operator
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal, TypeVar, get_args

from pydantic import AfterValidator, ConfigDict, Field, TypeAdapter

from app.inputs import RequestModel
from app.offers.kinds import (
    PARAMS_BY_KIND,
    DiscountParams,
    DowngradeParams,
    OfferKind,
    OfferParams,
    PauseParams,
)
from app.plans.catalog import (
    MAX_PRICE,
    Currency,
    PlanId,
    PlanSpec,
    reference_price,
    resolve_downgrade,
    same_currency,
)

Reason = Literal[
    "too_expensive",
    "unused",
    "missing_features",
    "switched_service",
    "customer_service",
    "low_quality",
    "too_complex",
    "other",
]
REASONS: tuple[str, ...] = get_args(Reason)
HealthTier = Literal["healthy", "at_risk", "critical"]
HEALTH_TIERS: tuple[str, ...] = get_args(HealthTier)

Comparison = Literal["<", "<=", ">", ">="]
Membership = Literal["in", "not_in"]

MAX_CONDITIONS = 20
MAX_WINDOW_DAYS = 3650
MAX_COUNT = 1000
MAX_TENURE_DAYS = 36500

_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}

T = TypeVar("T")


_UNIQUE = Field(json_schema_extra={"uniqueItems": True})


def _distinct(values: list[T]) -> list[T]:
    if len(set(values)) != len(values):
        raise ValueError("values must not repeat")
    return values


@dataclass(frozen=True, kw_only=True)
class CustomerFacts:
    """What the rules may ask about the customer in a cancellation flow, as of ``now``.

    ``status`` is the subscription status at ``now`` (lead, active, paused, cancelled). ``mrr``
    is the subscription's monthly price in minor units of ``currency``, kept through a pause
    (the customer's ``plan_mrr``). ``tenure_days`` counts whole days since the customer first
    subscribed. ``pause_times`` are the starts of its pauses; ``accepted_offers`` the kind and
    time of every offer it accepted; ``discount_ends_at`` the end of its current or last
    discount. All times are timezone-aware.
    """

    now: datetime
    reason: str | None = None
    status: str = "active"
    plan: str | None = None
    mrr: int = 0
    currency: str | None = None
    tenure_days: int | None = None
    health_score: float | None = None
    health_tier: str | None = None
    pause_times: tuple[datetime, ...] = ()
    accepted_offers: tuple[tuple[str, datetime], ...] = ()
    discount_ends_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.now.tzinfo is None:
            raise ValueError("CustomerFacts.now must be timezone-aware")

    @property
    def has_active_discount(self) -> bool:
        """A discount is active while ``now`` is before its end."""
        return self.discount_ends_at is not None and self.discount_ends_at > self.now

    def count_in_window(self, times: Iterable[datetime], days: int) -> int:
        """How many of ``times`` fall in the closed window [now - days, now]."""
        start = self.now - timedelta(days=days)
        return sum(1 for at in times if start <= at <= self.now)


def _member(actual: str | None, op: Membership, values: Sequence[str]) -> bool:
    if actual is None:
        return False
    return (actual in values) == (op == "in")


def _compare(actual: float | None, op: Comparison, expected: float) -> bool:
    if actual is None:
        return False
    return _COMPARE[op](actual, expected)


class _Condition(RequestModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    def holds(self, facts: CustomerFacts) -> bool:
        raise NotImplementedError


class ReasonCondition(_Condition):
    """The cancellation reason the customer gave is (``in``) or is not (``not_in``) one of
    ``values``."""

    field: Literal["reason"]
    op: Membership
    values: Annotated[
        list[Reason],
        Field(min_length=1, max_length=len(REASONS)),
        AfterValidator(_distinct),
        _UNIQUE,
    ]

    def holds(self, facts: CustomerFacts) -> bool:
        return _member(facts.reason, self.op, self.values)


class HealthTierCondition(_Condition):
    """The customer's health tier is (``in``) or is not (``not_in``) one of ``values``."""

    field: Literal["health_tier"]
    op: Membership
    values: Annotated[
        list[HealthTier],
        Field(min_length=1, max_length=len(HEALTH_TIERS)),
        AfterValidator(_distinct),
        _UNIQUE,
    ]

    def holds(self, facts: CustomerFacts) -> bool:
        return _member(facts.health_tier, self.op, self.values)


class PlanCondition(_Condition):
    """The customer's current plan is (``in``) or is not (``not_in``) one of ``values``."""

    field: Literal["plan"]
    op: Membership
    values: Annotated[
        list[PlanId], Field(min_length=1, max_length=100), AfterValidator(_distinct), _UNIQUE
    ]

    def holds(self, facts: CustomerFacts) -> bool:
        return _member(facts.plan, self.op, self.values)


class HealthScoreCondition(_Condition):
    """health_score ``op`` ``value`` (scores run from 0 to 100)."""

    field: Literal["health_score"]
    op: Comparison
    value: float = Field(ge=0, le=100, allow_inf_nan=False)

    def holds(self, facts: CustomerFacts) -> bool:
        return _compare(facts.health_score, self.op, self.value)


class TenureDaysCondition(_Condition):
    """tenure_days ``op`` ``value``: whole days since the customer first subscribed."""

    field: Literal["tenure_days"]
    op: Comparison
    value: int = Field(ge=0, le=MAX_TENURE_DAYS)

    def holds(self, facts: CustomerFacts) -> bool:
        return _compare(facts.tenure_days, self.op, self.value)


class MrrCondition(_Condition):
    """mrr ``op`` ``value`` in minor units. With ``currency``, also requires the customer to pay
    in that currency (amounts in different currencies are not comparable)."""

    field: Literal["mrr"]
    op: Comparison
    value: int = Field(ge=0, le=MAX_PRICE)
    currency: Currency | None = None

    def holds(self, facts: CustomerFacts) -> bool:
        if self.currency is not None and not same_currency(self.currency, facts.currency):
            return False
        return _compare(facts.mrr, self.op, self.value)


class PausesInLastDaysCondition(_Condition):
    """(number of pauses started in the last ``days`` days) ``op`` ``value``."""

    field: Literal["pauses_in_last_days"]
    days: int = Field(ge=1, le=MAX_WINDOW_DAYS)
    op: Comparison
    value: int = Field(ge=0, le=MAX_COUNT)

    def holds(self, facts: CustomerFacts) -> bool:
        return _compare(facts.count_in_window(facts.pause_times, self.days), self.op, self.value)


class AcceptedOffersOfKindCondition(_Condition):
    """(number of offers of ``kind`` the customer accepted in the last ``days`` days) ``op``
    ``value``."""

    field: Literal["accepted_offers_of_kind"]
    kind: OfferKind
    days: int = Field(ge=1, le=MAX_WINDOW_DAYS)
    op: Comparison
    value: int = Field(ge=0, le=MAX_COUNT)

    def holds(self, facts: CustomerFacts) -> bool:
        times = (at for kind, at in facts.accepted_offers if kind == self.kind)
        return _compare(facts.count_in_window(times, self.days), self.op, self.value)


class HasActiveDiscountCondition(_Condition):
    """Whether a discount is running now equals ``value``."""

    field: Literal["has_active_discount"]
    op: Literal["="]
    value: bool

    def holds(self, facts: CustomerFacts) -> bool:
        return facts.has_active_discount == self.value


Condition = Annotated[
    ReasonCondition
    | HealthTierCondition
    | PlanCondition
    | HealthScoreCondition
    | TenureDaysCondition
    | MrrCondition
    | PausesInLastDaysCondition
    | AcceptedOffersOfKindCondition
    | HasActiveDiscountCondition,
    Field(discriminator="field"),
]

Rules = Annotated[
    list[Condition],
    Field(
        max_length=MAX_CONDITIONS,
        description="Eligibility conditions, all of which must hold; empty means always.",
    ),
]
_RULES = TypeAdapter(Rules)


def parse_rules(data: object) -> list[Condition]:
    """``data`` (decoded JSON) validated as a rule list; raises ``pydantic.ValidationError``
    whose error locations start at the condition's index."""
    return _RULES.validate_python(data)


def dump_rules(rules: Sequence[Condition]) -> list[dict[str, Any]]:
    """The JSON form of ``rules`` that :func:`parse_rules` reads back."""
    return [condition.model_dump(mode="json") for condition in rules]


def evaluate(rules: Sequence[Condition], facts: CustomerFacts) -> bool:
    """True when every condition in ``rules`` holds for ``facts`` (so always for no rules)."""
    return all(condition.holds(facts) for condition in rules)


# Ranking ---------------------------------------------------------------------------------------

MAX_OFFERS = 3
MIN_FLOWS_FOR_SAVE_RATE = 20

SaveStats = Mapping[tuple[uuid.UUID, str | None], tuple[int, int]]
"""(offer id, cancellation reason) -> (flows in which the offer was shown, flows it saved)."""


@dataclass(frozen=True, kw_only=True)
class OfferSpec:
    """An offer from the catalog, as ranking needs it."""

    id: uuid.UUID
    kind: OfferKind
    title: str
    description: str = ""
    params: OfferParams
    rules: tuple[Condition, ...] = ()
    priority: int = 0
    active: bool = True
    created_at: datetime

    def __post_init__(self) -> None:
        if not isinstance(self.params, PARAMS_BY_KIND[self.kind]):
            raise ValueError(f"{type(self.params).__name__} are not {self.kind} parameters")


@dataclass(frozen=True, kw_only=True)
class RankedOffer:
    """An offer to show, with its 1-based ``rank``. ``target_plan`` is where a downgrade goes;
    ``save_rate`` is the measured rate used for ordering, when there was enough data."""

    offer: OfferSpec
    rank: int
    target_plan: PlanSpec | None = None
    save_rate: float | None = None

    @property
    def params(self) -> dict[str, Any]:
        """The offer's parameters as shown to the customer: a downgrade names the plan it
        resolved to, with that plan's price and currency."""
        data = self.offer.params.model_dump(mode="json")
        if self.target_plan is not None:
            data["target_plan_id"] = self.target_plan.plan_id
            data["price"] = self.target_plan.price
            data["currency"] = self.target_plan.currency
        return data


def downgrade_target(
    params: DowngradeParams, facts: CustomerFacts, plans: Sequence[PlanSpec]
) -> PlanSpec | None:
    """Where a downgrade offer would move this customer: see
    :func:`app.plans.catalog.resolve_downgrade`, with the price to undercut
    (:func:`app.plans.catalog.reference_price`) in the customer's currency (the current catalog
    plan's when the customer's is unknown). None when no such plan exists."""
    priced = reference_price(facts.plan, facts.mrr, plans)
    if priced is None:
        return None
    price, plan_currency = priced
    return resolve_downgrade(
        params.target_plan_id,
        current_plan=facts.plan,
        price=price,
        currency=facts.currency or plan_currency,
        plans=plans,
    )


def save_rate(stats: tuple[int, int] | None) -> float | None:
    """kept / flows for one offer and reason, or None below ``MIN_FLOWS_FOR_SAVE_RATE`` flows
    (too few to tell a good offer from a lucky one)."""
    if stats is None:
        return None
    flows, kept = stats
    if flows < MIN_FLOWS_FOR_SAVE_RATE:
        return None
    return min(max(kept, 0), flows) / flows


def rank_offers(
    offers: Iterable[OfferSpec],
    facts: CustomerFacts,
    plans: Iterable[PlanSpec],
    save_stats: SaveStats,
    *,
    limit: int = MAX_OFFERS,
) -> list[RankedOffer]:
    """The offers to show a customer who wants to cancel, best first, at most ``limit``.

    An offer is shown when it is active, its rules hold (:func:`evaluate`) and its kind allows:
    a pause only when the customer is not paused; a downgrade only when
    :func:`downgrade_target` finds a cheaper active plan in the customer's currency; a discount
    only when no discount is active (discounts never stack).

    Order: higher ``priority`` first. Among equal priorities, offers with fewer than
    ``MIN_FLOWS_FOR_SAVE_RATE`` flows for this reason come first, so a new offer gathers the
    data it needs (at most that many flows per reason) instead of being starved by established
    ones; then offers with enough data by save rate for this reason, highest first. Remaining
    ties go to the older offer, then the smaller id, so the order is stable.
    """
    plan_list = list(plans)
    chosen: list[tuple[tuple[Any, ...], RankedOffer]] = []
    for offer in offers:
        if not offer.active or not evaluate(offer.rules, facts):
            continue
        target: PlanSpec | None = None
        if isinstance(offer.params, PauseParams) and facts.status == "paused":
            continue
        if isinstance(offer.params, DiscountParams) and facts.has_active_discount:
            continue
        if isinstance(offer.params, DowngradeParams):
            target = downgrade_target(offer.params, facts, plan_list)
            if target is None:
                continue
        rate = save_rate(save_stats.get((offer.id, facts.reason)))
        key = (
            -offer.priority,
            rate is not None,
            -(rate or 0.0),
            offer.created_at,
            str(offer.id),
        )
        chosen.append((key, RankedOffer(offer=offer, rank=0, target_plan=target, save_rate=rate)))
    chosen.sort(key=lambda item: item[0])
    return [
        RankedOffer(offer=r.offer, rank=i, target_plan=r.target_plan, save_rate=r.save_rate)
        for i, (_, r) in enumerate(chosen[: max(limit, 0)], start=1)
    ]


# Holdout ---------------------------------------------------------------------------------------

BASIS_POINTS = 10_000
MAX_HOLDOUT_BP = 2_000
_HOLDOUT_SALT = b"holdfast.offers.holdout.v1"


def holdout_bucket(tenant_id: uuid.UUID | str, customer_id: str) -> int:
    """The customer's fixed bucket in [0, 10000): the first 8 bytes of
    SHA-256(salt, tenant id, customer id) as an unsigned integer, modulo 10000. The same in
    every process and release (unlike ``hash()``)."""
    digest = hashlib.sha256(
        b"\x00".join((_HOLDOUT_SALT, str(tenant_id).encode(), customer_id.encode()))
    ).digest()
    return int.from_bytes(digest[:8], "big") % BASIS_POINTS


def in_holdout(tenant_id: uuid.UUID | str, customer_id: str, share_bp: int) -> bool:
    """Whether the customer's flows get no offer: its bucket is below ``share_bp`` (basis
    points, 1000 = 10%). Raising the share only adds customers to the holdout; none leave."""
    if not 0 <= share_bp <= BASIS_POINTS:
        raise ValueError("share_bp must be between 0 and 10000")
    return holdout_bucket(tenant_id, customer_id) < share_bp
