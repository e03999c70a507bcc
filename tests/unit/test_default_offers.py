"""The offers a new tenant starts with do what the product promises."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.offers.defaults import DEFAULT_OFFERS
from app.offers.rules import CustomerFacts, OfferSpec, rank_offers
from app.offers.schemas import parse_offer_create
from app.plans.catalog import PlanSpec

NOW = datetime(2026, 11, 23, tzinfo=UTC)
PLANS = [
    PlanSpec(plan_id="starter", price=1900, currency="USD"),
    PlanSpec(plan_id="pro", price=4900, currency="USD"),
]


def default_specs() -> list[OfferSpec]:
    specs = []
    for n, data in enumerate(DEFAULT_OFFERS):
        body = parse_offer_create(data)
        specs.append(
            OfferSpec(
                id=uuid.UUID(int=n + 1),
                kind=body.kind,
                title=body.title,
                params=body.params,
                rules=tuple(body.rules),
                priority=body.priority,
                created_at=NOW - timedelta(days=30),
            )
        )
    return specs


def shown(**values: Any) -> list[tuple[str, dict[str, Any]]]:
    base: dict[str, Any] = {
        "plan": "pro",
        "mrr": 4900,
        "currency": "USD",
        "tenure_days": 30,
        "health_tier": "healthy",
        "health_score": 80.0,
    }
    facts = CustomerFacts(now=NOW, **{**base, **values})
    return [(r.offer.kind, r.params) for r in rank_offers(default_specs(), facts, PLANS, {})]


def test_defaults_are_valid_offers_of_every_kind() -> None:
    assert sorted(s.kind for s in default_specs()) == ["custom", "discount", "downgrade", "pause"]


@pytest.mark.parametrize("reason", ["unused", "too_complex"])
def test_a_pause_of_one_to_three_months_for_unused_or_too_complex(reason: str) -> None:
    assert shown(reason=reason) == [("pause", {"months": 3, "min_months": 1})]
    assert shown(reason=reason, status="paused") == []


def test_the_next_cheaper_plan_for_too_expensive() -> None:
    assert shown(reason="too_expensive") == [
        ("downgrade", {"target_plan_id": "starter", "price": 1900, "currency": "USD"})
    ]
    assert shown(reason="too_expensive", plan="starter", mrr=1900) == []


def test_tell_us_whats_missing_for_missing_features() -> None:
    assert [kind for kind, _ in shown(reason="missing_features")] == ["custom"]


def test_a_discount_for_long_tenured_customers_not_at_critical_health() -> None:
    assert shown(reason="switched_service", tenure_days=200) == [
        ("discount", {"percent": 25, "months": 3})
    ]
    # reason-specific offers come first
    assert [k for k, _ in shown(reason="too_expensive", tenure_days=200)] == [
        "downgrade",
        "discount",
    ]
    assert shown(reason="switched_service", tenure_days=182) == []
    assert shown(reason="switched_service", tenure_days=200, health_tier="critical") == []
    assert shown(reason="switched_service", tenure_days=200, health_tier="at_risk") != []


def test_the_default_discount_is_not_given_twice_in_a_year() -> None:
    recently = (("discount", NOW - timedelta(days=200)),)
    assert shown(reason="other", tenure_days=400, accepted_offers=recently) == []
    long_ago = (("discount", NOW - timedelta(days=400)),)
    assert shown(reason="other", tenure_days=400, accepted_offers=long_ago) != []
    running = NOW + timedelta(days=10)
    assert shown(reason="other", tenure_days=400, discount_ends_at=running) == []


def test_nothing_for_reasons_without_an_offer() -> None:
    assert shown(reason="customer_service") == []
