from datetime import UTC, datetime, timedelta

import pytest

from app.integrations.common import MappingError
from app.integrations.paddle.mapping import map_event, subscription_mrr
from tests.integrations import paddle_payloads as pp

AT = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("amount", "interval", "frequency", "quantity", "expected"),
    [
        (5200, "week", 1, 1, 22533),  # 5200 x 52 / 12 = 22533.33
        (100, "day", 1, 3, 9125),  # 300 x 365 / 12 = 9125
        (12_000, "year", 1, 1, 1000),
        (12_000, "year", 2, 1, 500),
        (999, "month", 1, 0, 0),
    ],
)
def test_mrr_normalises_each_billing_cycle_to_a_month(
    amount: int, interval: str, frequency: int, quantity: int, expected: int
) -> None:
    sub = pp.subscription(
        items=[pp.item(pp.price(amount=amount, interval=interval, frequency=frequency), quantity)]
    )
    assert subscription_mrr(sub) == expected


def test_unknown_intervals_and_unreadable_amounts_count_zero() -> None:
    odd = pp.price(interval="fortnight")
    bad = pp.price()
    bad["unit_price"]["amount"] = "12.50"
    assert subscription_mrr(pp.subscription(items=[pp.item(odd), pp.item(bad)])) == 0


def test_each_status_restates_the_subscription() -> None:
    def types(**sub: object) -> list[str]:
        event = pp.notification("subscription.updated", pp.subscription(**sub), AT, "evt_1")
        return [p["type"] for p in map_event(event).payloads]

    later = AT + timedelta(days=3)
    assert types(status="active") == ["plan_change", "resume"]
    assert types(status="past_due", scheduled_change=pp.scheduled("cancel", later)) == [
        "plan_change",
        "resume",
        "cancellation",
    ]
    assert types(status="paused") == ["plan_change", "pause"]
    assert types(status="canceled", canceled_at=AT) == ["cancellation"]
    assert types(status="trialing") == []


def test_a_scheduled_cancellation_in_the_past_takes_effect_at_the_event() -> None:
    sub = pp.subscription(scheduled_change=pp.scheduled("cancel", AT - timedelta(days=1)))
    [_, _, cancel] = map_event(pp.notification("subscription.updated", sub, AT, "evt_1")).payloads
    assert cancel["effective_at"] == cancel["occurred_at"] == "2026-03-01T00:00:00Z"


@pytest.mark.parametrize(
    ("event", "loc"),
    [
        ({"event_type": "subscription.updated", "data": {}}, ("event_id",)),
        ({"event_type": "subscription.updated", "event_id": "e", "data": []}, ("data",)),
        (
            {"event_type": "subscription.updated", "event_id": "e", "occurred_at": "x", "data": {}},
            ("occurred_at",),
        ),
    ],
)
def test_what_cannot_be_mapped_names_the_field(event: dict[str, object], loc: tuple[str]) -> None:
    with pytest.raises(MappingError) as raised:
        map_event(event)
    assert raised.value.loc == loc
