"""The plan catalog as plain data, and which plan a downgrade goes to (pure).

Imports nothing from FastAPI or SQLAlchemy: ingestion, offers and their tests share it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated

from pydantic import StringConstraints

from app.money import Currency

__all__ = ["Currency"]

PLAN_ID_PATTERN = r"^[A-Za-z0-9._:@+|=-]+$"
PLAN_ID_MAX_LENGTH = 200

# A downgrade offer names this instead of a plan id to mean "the next cheaper plan"; no plan may
# be called that, or the two meanings would collide.
NEXT_CHEAPER = "next_cheaper"
RESERVED_PLAN_IDS = frozenset({NEXT_CHEAPER})

# A monthly price no real plan reaches (10^12 minor units), far inside BIGINT.
MAX_PRICE = 1_000_000_000_000

PlanId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=PLAN_ID_MAX_LENGTH, pattern=PLAN_ID_PATTERN),
]


def same_currency(a: str | None, b: str | None) -> bool:
    """Whether two currency codes name the same currency (case-insensitively); unknown is never
    the same as anything."""
    return a is not None and b is not None and a.upper() == b.upper()


@dataclass(frozen=True, kw_only=True)
class PlanSpec:
    """One catalog plan: ``price`` is the monthly price in minor units of ``currency``."""

    plan_id: str
    price: int
    currency: str
    active: bool = True


def reference_price(
    plan: str | None, mrr: int, plans: Iterable[PlanSpec]
) -> tuple[int, str | None] | None:
    """The price a cheaper plan must undercut for this customer: the lower of its MRR (when
    positive) and its plan's catalog price (when the plan is in the catalog); None when neither
    is known. The lower, because a discounted customer is not saved by a "cheaper" plan that
    costs more than they pay, and a customer paying for many seats is not downgraded to a plan
    listed above theirs. The currency is the catalog plan's, when known."""
    catalog_plan = next((p for p in plans if p.plan_id == plan), None) if plan else None
    prices = [mrr] if mrr > 0 else []
    if catalog_plan is not None:
        prices.append(catalog_plan.price)
    if not prices:
        return None
    return min(prices), catalog_plan.currency if catalog_plan else None


def resolve_downgrade(
    target: str,
    *,
    current_plan: str | None,
    price: int,
    currency: str | None,
    plans: Iterable[PlanSpec],
) -> PlanSpec | None:
    """The plan a downgrade offer moves a customer to, or None when it cannot be offered.

    A candidate is an active catalog plan other than ``current_plan``, in ``currency``, priced
    strictly below ``price`` (see :func:`reference_price`). ``target`` ``"next_cheaper"`` resolves
    to the most expensive candidate (ties: the smallest plan id); an explicit plan id resolves to
    that plan only when it is a candidate.
    """
    candidates = [
        p
        for p in plans
        if p.active
        and p.plan_id != current_plan
        and same_currency(p.currency, currency)
        and p.price < price
    ]
    if target == NEXT_CHEAPER:
        if not candidates:
            return None
        return min(candidates, key=lambda p: (-p.price, p.plan_id))
    return next((p for p in candidates if p.plan_id == target), None)
