"""What a cancellation flow's decisions mean (pure): calendar months, discounted prices, expiry,
the events an accepted offer records, and which repeated decisions are the same."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.events.schemas import EVENT_ADAPTER
from app.offers.flows.decisions import (
    FLOW_TTL,
    CustomerSnapshot,
    DecisionError,
    add_months,
    apply_offer,
    customer_facts,
    decline_event,
    discounted_price,
    effective_status,
    same_acceptance,
    same_decline,
    tenure_days,
)

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
FLOW = uuid.UUID("01a207a1-1902-7ae4-a681-7d41f1624154")
OFFER = "31a8b96d-628d-4b90-91c5-c9cb1449f72f"
ACTIVE = CustomerSnapshot(
    status="active",
    plan="pro",
    plan_mrr=4900,
    mrr=4900,
    currency="USD",
    subscribed_at=datetime(2026, 1, 1, tzinfo=UTC),
    cancel_effective_at=None,
    discount_until=None,
    discount_base_mrr=None,
)


def shown(kind: str, **params: Any) -> dict[str, Any]:
    return {"offer_id": OFFER, "kind": kind, "title": kind, "params": params, "rank": 1}


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (datetime(2026, 1, 31, 12, tzinfo=UTC), 1, datetime(2026, 2, 28, 12, tzinfo=UTC)),
        (datetime(2028, 1, 31, tzinfo=UTC), 1, datetime(2028, 2, 29, tzinfo=UTC)),
        (datetime(2026, 11, 23, 9, 30, tzinfo=UTC), 2, datetime(2027, 1, 23, 9, 30, tzinfo=UTC)),
        (datetime(2026, 3, 31, tzinfo=UTC), 12, datetime(2027, 3, 31, tzinfo=UTC)),
        (datetime(2026, 5, 31, tzinfo=UTC), 1, datetime(2026, 6, 30, tzinfo=UTC)),
        (datetime(2026, 12, 15, tzinfo=UTC), 36, datetime(2029, 12, 15, tzinfo=UTC)),
    ],
)
def test_add_months_counts_calendar_months(
    start: datetime, months: int, expected: datetime
) -> None:
    assert add_months(start, months) == expected


@pytest.mark.parametrize(
    ("base", "percent", "expected"),
    [
        (4900, 25, 3675),
        (4900, 30, 3430),
        (999, 33, 669),
        (1, 50, 0),
        (4900, 100, 0),
        (4900, 0, 4900),
    ],
)
def test_discounted_price_rounds_for_the_customer(base: int, percent: int, expected: int) -> None:
    assert discounted_price(base, percent) == expected


def test_discounted_price_rejects_impossible_percentages() -> None:
    with pytest.raises(ValueError, match="percent"):
        discounted_price(100, 101)


def test_an_open_flow_is_abandoned_from_its_expiry_on() -> None:
    expires = NOW + FLOW_TTL
    assert effective_status("open", expires, expires - timedelta(microseconds=1)) == "open"
    assert effective_status("open", expires, expires) == "abandoned"
    for final in ("accepted", "declined", "abandoned"):
        assert effective_status(final, expires, expires + timedelta(days=9)) == final


def test_tenure_counts_whole_days() -> None:
    assert tenure_days(None, NOW) is None
    assert tenure_days(NOW - timedelta(days=183, hours=23), NOW) == 183
    assert tenure_days(NOW + timedelta(days=1), NOW) == 0


def test_customer_facts_use_the_subscription_price_and_histories() -> None:
    paused = CustomerSnapshot(**{**ACTIVE.__dict__, "status": "paused", "mrr": 0})
    facts = customer_facts(
        paused,
        now=NOW,
        reason="unused",
        health_score=55.0,
        health_tier="at_risk",
        pause_times=[NOW - timedelta(days=40)],
        accepted_offers=[("discount", NOW - timedelta(days=100))],
    )
    assert (facts.status, facts.mrr, facts.plan, facts.currency) == ("paused", 4900, "pro", "USD")
    assert facts.tenure_days == (NOW - datetime(2026, 1, 1, tzinfo=UTC)).days == 326
    assert facts.count_in_window(facts.pause_times, 60) == 1
    assert facts.accepted_offers == (("discount", NOW - timedelta(days=100)),)
    assert not facts.has_active_discount


def validated(body: dict[str, Any]) -> Any:
    """The event body as ingestion would validate it (so a built event is a valid event)."""
    return EVENT_ADAPTER.validate_python(body)


def test_a_pause_resumes_after_the_chosen_months() -> None:
    application = apply_offer(
        shown("pause", months=3, min_months=1),
        flow_id=FLOW,
        customer_id="cus_1",
        customer=ACTIVE,
        now=NOW,
        months=2,
    )
    [event] = [validated(e) for e in application.events]
    assert event.type == "pause"
    assert event.idempotency_key == f"flow:{FLOW}:accept"
    assert (event.occurred_at, event.resume_at) == (NOW, datetime(2027, 1, 23, 9, 30, tzinfo=UTC))
    assert event.properties == {"cancellation_flow_id": str(FLOW), "offer_id": OFFER}
    assert application.params == {"months": 2, "resume_at": "2027-01-23T09:30:00+00:00"}


def test_a_pause_defaults_to_its_longest_and_refuses_other_lengths() -> None:
    offer = shown("pause", months=3, min_months=2)
    default = apply_offer(
        offer, flow_id=FLOW, customer_id="c", customer=ACTIVE, now=NOW, months=None
    )
    assert default.params["months"] == 3
    for months in (1, 4):
        with pytest.raises(DecisionError, match="2 to 3 months") as raised:
            apply_offer(
                offer, flow_id=FLOW, customer_id="c", customer=ACTIVE, now=NOW, months=months
            )
        assert raised.value.loc == ["body", "months"]


@pytest.mark.parametrize("kind", ["downgrade", "discount", "custom"])
def test_months_belong_to_pause_offers_only(kind: str) -> None:
    params = {
        "downgrade": {"target_plan_id": "basic", "price": 1900, "currency": "USD"},
        "discount": {"percent": 20, "months": 2},
        "custom": {"payload": {}},
    }[kind]
    with pytest.raises(DecisionError, match="pause offers only"):
        apply_offer(
            shown(kind, **params), flow_id=FLOW, customer_id="c", customer=ACTIVE, now=NOW, months=1
        )


def test_a_downgrade_moves_to_the_plan_and_price_that_were_shown() -> None:
    application = apply_offer(
        shown("downgrade", target_plan_id="basic", price=1900, currency="USD"),
        flow_id=FLOW,
        customer_id="cus_1",
        customer=ACTIVE,
        now=NOW,
        months=None,
    )
    [event] = [validated(e) for e in application.events]
    assert (event.type, event.plan, event.mrr, event.currency) == (
        "plan_change",
        "basic",
        1900,
        "USD",
    )
    assert event.discount_until is None
    assert application.params == {
        "from_plan": "pro",
        "target_plan_id": "basic",
        "price": 1900,
        "currency": "USD",
    }


def test_a_discount_lowers_the_current_plans_price_until_it_ends() -> None:
    application = apply_offer(
        shown("discount", percent=25, months=3),
        flow_id=FLOW,
        customer_id="cus_1",
        customer=ACTIVE,
        now=NOW,
        months=None,
    )
    [event] = [validated(e) for e in application.events]
    assert (event.type, event.plan, event.mrr) == ("plan_change", "pro", 3675)
    assert event.discount_until == datetime(2027, 2, 23, 9, 30, tzinfo=UTC)
    assert application.params["base_mrr"] == 4900 and application.params["mrr"] == 3675


def test_a_discount_on_a_discounted_price_starts_from_the_full_price() -> None:
    discounted = CustomerSnapshot(
        **{**ACTIVE.__dict__, "plan_mrr": 3000, "mrr": 3000, "discount_base_mrr": 4000}
    )
    application = apply_offer(
        shown("discount", percent=50, months=1),
        flow_id=FLOW,
        customer_id="c",
        customer=discounted,
        now=NOW,
        months=None,
    )
    assert application.params["mrr"] == 2000


def test_a_discount_needs_a_plan() -> None:
    planless = CustomerSnapshot(**{**ACTIVE.__dict__, "plan": None})
    with pytest.raises(DecisionError, match="no plan"):
        apply_offer(
            shown("discount", percent=10, months=1),
            flow_id=FLOW,
            customer_id="c",
            customer=planless,
            now=NOW,
            months=None,
        )


def test_a_custom_offer_records_no_event() -> None:
    application = apply_offer(
        shown("custom", payload={"action": "call"}),
        flow_id=FLOW,
        customer_id="c",
        customer=ACTIVE,
        now=NOW,
        months=None,
    )
    assert application.events == []
    assert application.params == {"payload": {"action": "call"}}


def test_accepting_withdraws_a_pending_cancellation_first() -> None:
    leaving = CustomerSnapshot(
        **{**ACTIVE.__dict__, "cancel_effective_at": NOW + timedelta(days=9)}
    )
    application = apply_offer(
        shown("downgrade", target_plan_id="basic", price=1900, currency="USD"),
        flow_id=FLOW,
        customer_id="c",
        customer=leaving,
        now=NOW,
        months=None,
    )
    resume, change = [validated(e) for e in application.events]
    assert (resume.type, change.type) == ("resume", "plan_change")
    # The fold orders events of one instant by key: the withdrawal must come first.
    assert resume.occurred_at == change.occurred_at
    assert resume.idempotency_key < change.idempotency_key


def test_a_decline_records_the_flows_reason_and_comment() -> None:
    later = NOW + timedelta(days=8)
    event = validated(
        decline_event(
            flow_id=FLOW,
            customer_id="c",
            reason="too_expensive",
            comment="Budget",
            now=NOW,
            effective_at=later,
        )
    )
    assert (event.type, event.reason, event.comment) == ("cancellation", "too_expensive", "Budget")
    assert (event.occurred_at, event.effective_at) == (NOW, later)
    assert event.idempotency_key == f"flow:{FLOW}:decline"
    immediate = decline_event(
        flow_id=FLOW, customer_id="c", reason="other", comment=None, now=NOW, effective_at=None
    )
    assert immediate["effective_at"] == NOW and "comment" not in immediate


def test_same_decisions() -> None:
    offer = uuid.uuid4()
    assert same_acceptance(offer, {"months": 2}, offer, None)
    assert same_acceptance(offer, {"months": 2}, offer, 2)
    assert not same_acceptance(offer, {"months": 2}, offer, 3)
    assert not same_acceptance(offer, {}, uuid.uuid4(), None)
    assert not same_acceptance(None, None, offer, None)
    assert same_decline(NOW, None) and same_decline(NOW, NOW)
    assert not same_decline(NOW, NOW + timedelta(seconds=1))
