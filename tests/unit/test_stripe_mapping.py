from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

import pytest

from app.integrations.common import MappingError
from app.integrations.stripe.mapping import (
    invoice_subscription,
    map_event,
    monthly,
    subscription_mrr,
)
from tests.integrations import stripe_payloads as sp

T = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("amount", "interval", "count", "expected"),
    [
        (1200, "month", 1, Fraction(1200)),
        (1200, "month", 3, Fraction(400)),
        (12000, "year", 1, Fraction(1000)),
        (10000, "year", 2, Fraction(10000, 24)),
        (100, "week", 1, Fraction(100 * 52, 12)),
        (10, "day", 1, Fraction(10 * 365, 12)),
    ],
)
def test_monthly(amount: int, interval: str, count: int, expected: Fraction) -> None:
    assert monthly(Fraction(amount), interval, count) == expected


def test_monthly_rejects_unknown_intervals() -> None:
    with pytest.raises(ValueError, match="interval"):
        monthly(Fraction(1), "fortnight", 1)
    with pytest.raises(ValueError, match="interval_count"):
        monthly(Fraction(1), "month", 0)


def test_mrr_sums_items_exactly_and_rounds_down_once() -> None:
    sub = sp.subscription(
        start=T,
        items=[
            (sp.price("a", 1000, interval="year"), 1),  # 83.33...
            (sp.price("b", 1000, interval="year"), 1),  # 83.33...
            (sp.price("c", 500, interval="month", interval_count=3), 1),  # 166.66...
        ],
    )
    assert subscription_mrr(sub) == 333  # 333.33... once, not 83 + 83 + 166 = 332


def test_mrr_skips_metered_and_tiered_items_and_reads_decimals() -> None:
    decimal_price = sp.price("dec", None)
    decimal_price["unit_amount_decimal"] = "12.5"
    sub = sp.subscription(
        start=T,
        items=[
            (sp.price("seat", 1000), 2),
            (sp.price("metered", 5, usage_type="metered"), 1),
            (sp.price("tiered", None), 10),
            (decimal_price, 4),
        ],
    )
    assert subscription_mrr(sub) == 2000 + 50


def test_mrr_of_the_older_shape_reads_the_plan() -> None:
    sub = sp.subscription(start=T, items=[(sp.price("old", 3000, interval="year"), 2)], legacy=True)
    del sub["items"]
    assert subscription_mrr(sub) == 500


def test_invoice_subscription_in_both_shapes() -> None:
    assert invoice_subscription(sp.invoice(subscription_id="sub_new")) == "sub_new"
    assert invoice_subscription(sp.invoice(subscription_id="sub_old", legacy=True)) == "sub_old"
    expanded = sp.invoice(legacy=True)
    expanded["subscription"] = {"id": "sub_x", "object": "subscription"}
    assert invoice_subscription(expanded) == "sub_x"
    assert invoice_subscription(sp.invoice(subscription_id=None)) is None


def _types(event: dict[str, Any]) -> list[tuple[str, str]]:
    return [(p["type"], p["idempotency_key"]) for p in map_event(event).payloads]


def test_unhandled_types_are_not_handled() -> None:
    mapped = map_event(sp.event("customer.created", {"id": "cus_1"}, created=T))
    assert (mapped.handled, mapped.payloads) == (False, [])


def test_an_update_without_relevant_changes_gives_nothing() -> None:
    sub = sp.subscription(start=T)
    event = sp.event(
        "customer.subscription.updated", sub, created=T, previous={"metadata": {"a": "b"}}
    )
    assert map_event(event).payloads == []


def test_an_update_without_previous_attributes_records_the_price() -> None:
    sub = sp.subscription(start=T)
    assert _types(sp.event("customer.subscription.updated", sub, created=T)) == [
        ("plan_change", "stripe:evt_1:1-plan")
    ]


def test_status_changes_other_than_a_start_give_no_plan_change() -> None:
    sub = sp.subscription(start=T, status="past_due")
    event = sp.event("customer.subscription.updated", sub, created=T, previous={"status": "active"})
    assert map_event(event).payloads == []


def test_a_created_subscription_with_everything_orders_its_payloads() -> None:
    cancel_at = sp.unix(T + timedelta(days=90))
    sub = sp.subscription(
        start=T,
        cancel_at=cancel_at,
        pause_collection={"behavior": "void", "resumes_at": sp.unix(T + timedelta(days=7))},
    )
    payloads = map_event(sp.event("customer.subscription.created", sub, created=T)).payloads
    keys = [p["idempotency_key"] for p in payloads]
    assert keys == sorted(keys)  # the fold breaks occurred_at ties by key
    assert [p["type"] for p in payloads] == ["plan_change", "pause", "cancellation"]
    assert payloads[1]["properties"]["stripe_pause_behavior"] == "void"
    assert "stripe_pause_behavior" not in payloads[2]["properties"]
    assert payloads[2]["effective_at"] == "2026-05-30T00:00:00Z"


def test_withdrawing_the_cancellation_of_a_paused_subscription_keeps_it_paused() -> None:
    pause = {"behavior": "void", "resumes_at": None}
    sub = sp.subscription(start=T, pause_collection=pause)
    event = sp.event(
        "customer.subscription.updated", sub, created=T, previous={"cancel_at_period_end": True}
    )
    assert [p["type"] for p in map_event(event).payloads] == ["resume", "resume", "pause"]


def test_deleted_with_unknown_feedback_is_other_and_ends_when_it_ended() -> None:
    ended = T - timedelta(seconds=3)
    sub = sp.subscription(start=T - timedelta(days=9), ended_at=sp.unix(ended), feedback="meh")
    (payload,) = map_event(sp.event("customer.subscription.deleted", sub, created=T)).payloads
    assert payload["reason"] == "other"
    assert payload["occurred_at"] == payload["effective_at"] == "2026-02-28T23:59:57Z"


def test_a_weird_event_id_is_hashed_into_the_key() -> None:
    event = sp.event("invoice.paid", sp.invoice(), created=T, event_id="evt with space")
    (payload,) = map_event(event).payloads
    assert payload["idempotency_key"].startswith("stripe:sha256:")


@pytest.mark.parametrize(
    ("mutate", "loc"),
    [
        (lambda e: e.pop("created"), ("created",)),
        (lambda e: e.update(created="yesterday"), ("created",)),
        (lambda e: e.pop("id"), ("id",)),
        (lambda e: e["data"].pop("object"), ("data", "object")),
        (lambda e: e["data"]["object"].pop("currency"), ("data", "object", "currency")),
        (lambda e: e["data"]["object"].update(amount_paid="12"), ("data", "object", "amount_paid")),
    ],
)
def test_unmappable_events_raise_with_a_location(mutate: Any, loc: tuple[str, ...]) -> None:
    event = sp.event("invoice.paid", sp.invoice(), created=T)
    mutate(event)
    with pytest.raises(MappingError) as raised:
        map_event(event)
    assert raised.value.loc == loc
