from datetime import UTC, datetime, timedelta

import pytest

from app.integrations.chargebee.mapping import map_event, read_subscription, subscription_mrr
from app.integrations.chargebee.service import basic_credentials
from tests.integrations import chargebee_payloads as cp

AT = datetime(2026, 3, 1, tzinfo=UTC)


def mrr(**sub: object) -> int:
    return subscription_mrr(read_subscription(cp.subscription(**sub)))


def test_mrr_normalises_the_billing_period_and_skips_charges() -> None:
    assert mrr(items=[cp.item(unit_price=5200)], billing_period_unit="week") == 22533
    assert (
        mrr(items=[cp.item(unit_price=12_000)], billing_period=2, billing_period_unit="year") == 500
    )
    assert mrr(items=[cp.item(item_type="charge")]) == 0
    # A tiered item's amount is what it costs per period, not unit price x quantity.
    assert mrr(items=[cp.item(unit_price=1000, quantity=10, amount=7000)]) == 7000


def test_each_status_restates_the_subscription() -> None:
    def types(**sub: object) -> list[str]:
        event = cp.subscription_event("subscription_changed", AT, "ev_1", **sub)
        return [p["type"] for p in map_event(event).payloads]

    assert types(status="active") == ["plan_change", "resume"]
    assert types(status="non_renewing", cancelled_at=AT + timedelta(days=3)) == [
        "plan_change",
        "resume",
        "cancellation",
    ]
    assert types(status="paused") == ["plan_change", "pause"]
    assert types(status="cancelled", cancelled_at=AT) == ["cancellation"]
    assert types(status="in_trial") == types(status="future") == []


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Basic dXNlcjpwYXNz", ("user", "pass")),
        ("basic dXNlcjpwYTpzcw==", ("user", "pa:ss")),
        ("Basic dXNlcg==", None),
        ("Bearer dXNlcjpwYXNz", None),
        ("Basic ***", None),
        ("Basic /w==", None),
        ("", None),
        (None, None),
    ],
)
def test_basic_credentials(header: str | None, expected: tuple[str, str] | None) -> None:
    assert basic_credentials(header) == expected
