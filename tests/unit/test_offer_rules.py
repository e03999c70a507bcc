"""Offer eligibility rules, ranking and holdout (pure; no database)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from app.offers.kinds import (
    CustomParams,
    DiscountParams,
    DowngradeParams,
    OfferParams,
    PauseParams,
    parse_params,
)
from app.offers.rules import (
    MIN_FLOWS_FOR_SAVE_RATE,
    CustomerFacts,
    OfferSpec,
    SaveStats,
    dump_rules,
    evaluate,
    holdout_bucket,
    in_holdout,
    parse_rules,
    rank_offers,
)
from app.plans.catalog import PlanSpec

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
TENANT = uuid.UUID("6f1c1a52-3d0e-4b8e-9a8e-2f4b7f1c0001")


def facts(**values: Any) -> CustomerFacts:
    return CustomerFacts(now=NOW, **values)


def holds(condition: dict[str, Any], **values: Any) -> bool:
    return evaluate(parse_rules([condition]), facts(**values))


# Each condition at its boundary ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("op", "reason", "expected"),
    [
        ("in", "unused", True),
        ("in", "too_complex", True),
        ("in", "other", False),
        ("in", None, False),
        ("not_in", "other", True),
        ("not_in", "unused", False),
        ("not_in", None, False),
    ],
)
def test_reason_condition(op: str, reason: str | None, expected: bool) -> None:
    condition = {"field": "reason", "op": op, "values": ["unused", "too_complex"]}
    assert holds(condition, reason=reason) is expected


@pytest.mark.parametrize(
    ("op", "tier", "expected"),
    [
        ("in", "healthy", True),
        ("in", "at_risk", False),
        ("in", None, False),
        ("not_in", "at_risk", True),
        ("not_in", "critical", False),
        ("not_in", None, False),
    ],
)
def test_health_tier_condition(op: str, tier: str | None, expected: bool) -> None:
    condition = {"field": "health_tier", "op": op, "values": ["healthy", "critical"]}
    assert holds(condition, health_tier=tier) is expected


@pytest.mark.parametrize(
    ("op", "plan", "expected"),
    [("in", "pro", True), ("in", "basic", False), ("in", None, False), ("not_in", "basic", True)],
)
def test_plan_condition(op: str, plan: str | None, expected: bool) -> None:
    assert holds({"field": "plan", "op": op, "values": ["pro", "team"]}, plan=plan) is expected


@pytest.mark.parametrize(
    ("op", "score", "expected"),
    [
        (">=", 40.0, True),
        (">=", 39.99, False),
        (">", 40.0, False),
        (">", 40.01, True),
        ("<", 39.99, True),
        ("<", 40.0, False),
        ("<=", 40.0, True),
        ("<=", 40.01, False),
        (">=", None, False),
        ("<", None, False),
    ],
)
def test_health_score_condition(op: str, score: float | None, expected: bool) -> None:
    condition = {"field": "health_score", "op": op, "value": 40}
    assert holds(condition, health_score=score) is expected


@pytest.mark.parametrize(
    ("tenure", "expected"), [(183, True), (182, False), (10_000, True), (None, False)]
)
def test_tenure_days_condition(tenure: int | None, expected: bool) -> None:
    condition = {"field": "tenure_days", "op": ">=", "value": 183}
    assert holds(condition, tenure_days=tenure) is expected


@pytest.mark.parametrize(
    ("mrr", "currency", "expected"),
    [(5000, "usd", True), (4999, "USD", False), (5000, "EUR", False), (5000, None, False)],
)
def test_mrr_condition_with_currency(mrr: int, currency: str | None, expected: bool) -> None:
    condition = {"field": "mrr", "op": ">=", "value": 5000, "currency": "USD"}
    assert holds(condition, mrr=mrr, currency=currency) is expected


def test_mrr_condition_without_currency_compares_the_amount_only() -> None:
    condition = {"field": "mrr", "op": "<", "value": 5000}
    assert holds(condition, mrr=4999, currency="JPY")
    assert not holds(condition, mrr=5000)


@pytest.mark.parametrize(
    ("pauses", "expected"),
    [
        ((), True),
        ((NOW - timedelta(days=365),), False),  # the window's first instant is inside
        ((NOW - timedelta(days=365, microseconds=1),), True),
        ((NOW,), False),
        ((NOW + timedelta(days=1),), True),  # a scheduled pause has not happened yet
    ],
)
def test_pauses_in_last_days_condition(pauses: tuple[datetime, ...], expected: bool) -> None:
    condition = {"field": "pauses_in_last_days", "days": 365, "op": "<", "value": 1}
    assert holds(condition, pause_times=pauses) is expected


def test_pauses_in_last_days_counts_every_pause_in_the_window() -> None:
    condition = {"field": "pauses_in_last_days", "days": 30, "op": ">=", "value": 2}
    two = (NOW - timedelta(days=1), NOW - timedelta(days=30))
    assert holds(condition, pause_times=two)
    assert not holds(condition, pause_times=(*two[:1], NOW - timedelta(days=31)))


@pytest.mark.parametrize(
    ("accepted", "expected"),
    [
        ((), True),
        ((("discount", NOW - timedelta(days=365)),), False),
        ((("discount", NOW - timedelta(days=366)),), True),
        ((("pause", NOW),), True),  # another kind does not count
        ((("pause", NOW), ("discount", NOW - timedelta(days=2))), False),
    ],
)
def test_accepted_offers_of_kind_condition(
    accepted: tuple[tuple[str, datetime], ...], expected: bool
) -> None:
    condition = {
        "field": "accepted_offers_of_kind",
        "kind": "discount",
        "days": 365,
        "op": "<",
        "value": 1,
    }
    assert holds(condition, accepted_offers=accepted) is expected


@pytest.mark.parametrize(
    ("ends_at", "value", "expected"),
    [
        (None, False, True),
        (NOW + timedelta(seconds=1), False, False),
        (NOW, False, True),  # a discount ending now is over
        (NOW - timedelta(days=1), False, True),
        (NOW + timedelta(seconds=1), True, True),
        (None, True, False),
    ],
)
def test_has_active_discount_condition(
    ends_at: datetime | None, value: bool, expected: bool
) -> None:
    condition = {"field": "has_active_discount", "op": "=", "value": value}
    assert holds(condition, discount_ends_at=ends_at) is expected


# Combinations ----------------------------------------------------------------------------------


def test_no_rules_always_hold() -> None:
    assert evaluate([], facts())
    assert evaluate(parse_rules([]), facts(reason=None, status="paused"))


def test_conditions_are_anded() -> None:
    rules = parse_rules(
        [
            {"field": "reason", "op": "in", "values": ["too_expensive"]},
            {"field": "tenure_days", "op": ">=", "value": 183},
            {"field": "health_tier", "op": "not_in", "values": ["critical"]},
        ]
    )
    base = {"reason": "too_expensive", "tenure_days": 200, "health_tier": "healthy"}
    assert evaluate(rules, facts(**base))
    for name, failing in [("reason", "unused"), ("tenure_days", 100), ("health_tier", "critical")]:
        assert not evaluate(rules, facts(**{**base, name: failing})), name


def test_the_same_field_twice_expresses_a_range() -> None:
    rules = parse_rules(
        [
            {"field": "health_score", "op": ">=", "value": 40},
            {"field": "health_score", "op": "<", "value": 70},
        ]
    )
    assert [evaluate(rules, facts(health_score=s)) for s in (39.9, 40, 69.9, 70)] == [
        False,
        True,
        True,
        False,
    ]


def test_rules_round_trip_through_their_json_form() -> None:
    raw = [
        {"field": "mrr", "op": ">", "value": 100, "currency": "EUR"},
        {"field": "accepted_offers_of_kind", "kind": "pause", "days": 90, "op": "<=", "value": 2},
        {"field": "has_active_discount", "op": "=", "value": False},
    ]
    parsed = parse_rules(raw)
    dumped = dump_rules(parsed)
    assert dumped[0]["currency"] == "EUR"
    assert parse_rules(dumped) == parsed


# Invalid rules ---------------------------------------------------------------------------------

R = {"field": "reason", "op": "in", "values": ["unused"]}


@pytest.mark.parametrize(
    ("rules", "loc", "error_type"),
    [
        ([{"field": "age", "op": ">", "value": 3}], (0,), "union_tag_invalid"),
        ([{"op": "in", "values": ["unused"]}], (0,), "union_tag_not_found"),
        ([{**R, "op": ">="}], (0, "reason", "op"), "literal_error"),
        ([{**R, "values": []}], (0, "reason", "values"), "too_short"),
        ([{**R, "values": ["bored"]}], (0, "reason", "values", 0), "literal_error"),
        ([{**R, "values": ["unused", "unused"]}], (0, "reason", "values"), "value_error"),
        ([{**R, "values": "unused"}], (0, "reason", "values"), "list_type"),
        ([{**R, "extra": 1}], (0, "reason", "extra"), "extra_forbidden"),
        (
            [{"field": "health_score", "op": ">=", "value": "40"}],
            (0, "health_score", "value"),
            "float_type",
        ),
        (
            [{"field": "health_score", "op": ">=", "value": 100.5}],
            (0, "health_score", "value"),
            "less_than_equal",
        ),
        (
            [{"field": "health_score", "op": ">=", "value": float("nan")}],
            (0, "health_score", "value"),
            "finite_number",
        ),
        (
            [{"field": "health_score", "op": "==", "value": 40}],
            (0, "health_score", "op"),
            "literal_error",
        ),
        (
            [{"field": "tenure_days", "op": ">=", "value": 1.5}],
            (0, "tenure_days", "value"),
            "int_type",
        ),
        (
            [{"field": "tenure_days", "op": ">=", "value": True}],
            (0, "tenure_days", "value"),
            "int_type",
        ),
        ([{"field": "mrr", "op": ">=", "value": -1}], (0, "mrr", "value"), "greater_than_equal"),
        (
            [{"field": "mrr", "op": ">=", "value": 2**63}],
            (0, "mrr", "value"),
            "less_than_equal",
        ),
        (
            [{"field": "mrr", "op": ">=", "value": 1, "currency": "dollars"}],
            (0, "mrr", "currency"),
            "string_pattern_mismatch",
        ),
        (
            [{"field": "plan", "op": "in", "values": ["has space"]}],
            (0, "plan", "values", 0),
            "string_pattern_mismatch",
        ),
        (
            [{"field": "pauses_in_last_days", "days": 0, "op": "<", "value": 1}],
            (0, "pauses_in_last_days", "days"),
            "greater_than_equal",
        ),
        (
            [{"field": "pauses_in_last_days", "op": "<", "value": 1}],
            (0, "pauses_in_last_days", "days"),
            "missing",
        ),
        (
            [
                {
                    "field": "accepted_offers_of_kind",
                    "kind": "refund",
                    "days": 30,
                    "op": "<",
                    "value": 1,
                }
            ],
            (0, "accepted_offers_of_kind", "kind"),
            "literal_error",
        ),
        (
            [{"field": "has_active_discount", "op": "=", "value": "false"}],
            (0, "has_active_discount", "value"),
            "bool_type",
        ),
        (
            [{"field": "has_active_discount", "op": "!=", "value": False}],
            (0, "has_active_discount", "op"),
            "literal_error",
        ),
        ([R, "reason in unused"], (1,), "model_attributes_type"),
        ({"field": "reason"}, (), "list_type"),
        ([R] * 21, (), "too_long"),
    ],
)
def test_invalid_rules_are_rejected_with_paths(
    rules: Any, loc: tuple[str | int, ...], error_type: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_rules(rules)
    errors = caught.value.errors()
    assert (loc, error_type) in [(e["loc"], e["type"]) for e in errors], errors


def test_error_messages_name_what_is_allowed() -> None:
    with pytest.raises(ValidationError) as caught:
        parse_rules([{"field": "age", "op": ">", "value": 3}])
    message = caught.value.errors()[0]["msg"]
    assert "'age'" in message
    assert "'health_score'" in message and "'has_active_discount'" in message


# Offer parameters ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "params", "expected"),
    [
        ("pause", {"months": 3}, PauseParams(months=3, min_months=1)),
        ("pause", {"months": 12, "min_months": 12}, PauseParams(months=12, min_months=12)),
        (
            "downgrade",
            {"target_plan_id": "next_cheaper"},
            DowngradeParams(target_plan_id="next_cheaper"),
        ),
        ("discount", {"percent": 100, "months": 1}, DiscountParams(percent=100, months=1)),
        ("custom", {}, CustomParams(payload={})),
        ("custom", {"payload": {"url": "https://x.test", "n": [1, 2.5, None]}}, None),
    ],
)
def test_valid_params(kind: str, params: dict[str, Any], expected: OfferParams | None) -> None:
    parsed = parse_params(kind, params)
    if expected is not None:
        assert parsed == expected
    assert parse_params(kind, parsed.model_dump(mode="json")) == parsed


@pytest.mark.parametrize(
    ("kind", "params", "loc"),
    [
        ("pause", {"months": 0}, ("months",)),
        ("pause", {"months": 13}, ("months",)),
        ("pause", {"months": "3"}, ("months",)),
        ("pause", {"months": 2, "min_months": 3}, ()),
        ("pause", {"weeks": 2}, ("months",)),
        ("downgrade", {}, ("target_plan_id",)),
        ("downgrade", {"target_plan_id": "a/b"}, ("target_plan_id",)),
        ("downgrade", {"target_plan_id": "x" * 201}, ("target_plan_id",)),
        ("discount", {"percent": 0, "months": 3}, ("percent",)),
        ("discount", {"percent": 101, "months": 3}, ("percent",)),
        ("discount", {"percent": 25, "months": 0}, ("months",)),
        ("discount", {"percent": 25, "months": 37}, ("months",)),
        ("discount", {"percent": 25.5, "months": 3}, ("percent",)),
        ("custom", {"payload": "call us"}, ("payload",)),
        ("custom", {"payload": {"note": "a\x00b"}}, ()),
        ("custom", {"payload": {"a\x00": 1}}, ()),
        ("custom", {"payload": {"x": float("inf")}}, ()),
        ("custom", {"payload": {"x": "\ud800"}}, ()),
        ("custom", {"payload": {"x": "y" * 5000}}, ()),
        ("custom", {"payload": {"a": [[[[[[[[[1]]]]]]]]]}}, ()),
        ("custom", {"title": "talk to us"}, ("title",)),
    ],
)
def test_invalid_params_are_rejected(
    kind: str, params: dict[str, Any], loc: tuple[str, ...]
) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_params(kind, params)
    assert loc in [e["loc"] for e in caught.value.errors()], caught.value.errors()


# Ranking ---------------------------------------------------------------------------------------

PLANS = [
    PlanSpec(plan_id="basic", price=1000, currency="USD"),
    PlanSpec(plan_id="legacy", price=2000, currency="USD", active=False),
    PlanSpec(plan_id="pro", price=3000, currency="USD"),
    PlanSpec(plan_id="team", price=5000, currency="USD"),
    PlanSpec(plan_id="basic-eu", price=500, currency="EUR"),
]

_counter = iter(range(1, 10_000))


def offer(
    kind: str = "custom",
    *,
    priority: int = 0,
    params: OfferParams | None = None,
    rules: list[dict[str, Any]] | None = None,
    active: bool = True,
    created_at: datetime | None = None,
    offer_id: uuid.UUID | None = None,
) -> OfferSpec:
    n = next(_counter)
    default_params: dict[str, OfferParams] = {
        "pause": PauseParams(months=3),
        "downgrade": DowngradeParams(target_plan_id="next_cheaper"),
        "discount": DiscountParams(percent=25, months=3),
        "custom": CustomParams(),
    }
    return OfferSpec(
        id=offer_id or uuid.UUID(int=n),
        kind=kind,  # type: ignore[arg-type]
        title=f"offer {n}",
        params=params or default_params[kind],
        rules=tuple(parse_rules(rules or [])),
        priority=priority,
        active=active,
        created_at=created_at or NOW - timedelta(days=10_000 - n),
    )


def ids(ranked: list[Any]) -> list[uuid.UUID]:
    return [r.offer.id for r in ranked]


def rank(offers: list[OfferSpec], stats: SaveStats | None = None, **fact_values: Any) -> list[Any]:
    values = {"reason": "unused", "plan": "team", "mrr": 5000, "currency": "USD", **fact_values}
    return rank_offers(offers, facts(**values), PLANS, stats or {})


def test_higher_priority_first_with_ranks_from_one() -> None:
    low, high, mid = offer(priority=1), offer(priority=9), offer(priority=5)
    ranked = rank([low, high, mid])
    assert ids(ranked) == [high.id, mid.id, low.id]
    assert [r.rank for r in ranked] == [1, 2, 3]


def test_at_most_three_offers_and_the_best_ones() -> None:
    offers = [offer(priority=p) for p in (1, 5, 3, 4, 2)]
    ranked = rank(offers)
    assert [r.offer.priority for r in ranked] == [5, 4, 3]
    assert len(rank_offers(offers, facts(), PLANS, {}, limit=1)) == 1


def test_inactive_and_ineligible_offers_are_left_out() -> None:
    shown = offer(rules=[{"field": "reason", "op": "in", "values": ["unused"]}])
    other_reason = offer(rules=[{"field": "reason", "op": "in", "values": ["too_expensive"]}])
    inactive = offer(active=False)
    assert ids(rank([shown, other_reason, inactive])) == [shown.id]


def test_save_rate_reorders_equal_priorities_only_with_enough_flows() -> None:
    older, newer = offer(priority=5), offer(priority=5)
    enough = MIN_FLOWS_FOR_SAVE_RATE
    assert ids(rank([newer, older])) == [older.id, newer.id]  # tiebreak: older first
    # below the threshold even a perfect record does not count
    too_few = {(older.id, "unused"): (enough - 1, 0), (newer.id, "unused"): (enough - 1, 19)}
    assert ids(rank([older, newer], too_few)) == [older.id, newer.id]
    measured = {(older.id, "unused"): (enough, 2), (newer.id, "unused"): (enough, 15)}
    ranked = rank([older, newer], measured)
    assert ids(ranked) == [newer.id, older.id]
    assert ranked[0].save_rate == pytest.approx(0.75)
    # stats for another reason do not apply
    elsewhere = {(older.id, "too_expensive"): (50, 0), (newer.id, "too_expensive"): (50, 50)}
    assert ids(rank([older, newer], elsewhere)) == [older.id, newer.id]


def test_save_rate_never_beats_priority() -> None:
    important, popular = offer(priority=9), offer(priority=1)
    stats = {(important.id, "unused"): (100, 1), (popular.id, "unused"): (100, 99)}
    assert ids(rank([popular, important], stats)) == [important.id, popular.id]


def test_an_offer_without_enough_data_is_tried_before_measured_ones() -> None:
    measured_a, measured_b, fresh = offer(priority=5), offer(priority=5), offer(priority=5)
    stats = {(measured_a.id, "unused"): (40, 10), (measured_b.id, "unused"): (40, 30)}
    assert ids(rank([measured_a, measured_b, fresh], stats)) == [
        fresh.id,
        measured_b.id,
        measured_a.id,
    ]


def test_tiebreak_is_stable_whatever_the_input_order() -> None:
    same_time = NOW - timedelta(days=1)
    a = offer(created_at=same_time, offer_id=uuid.UUID(int=1))
    b = offer(created_at=same_time, offer_id=uuid.UUID(int=2))
    c = offer(created_at=same_time - timedelta(seconds=1), offer_id=uuid.UUID(int=3))
    assert ids(rank([a, b, c])) == ids(rank([b, c, a])) == [c.id, a.id, b.id]


def test_pause_is_not_offered_to_a_paused_customer() -> None:
    pause = offer("pause")
    assert ids(rank([pause], status="active")) == [pause.id]
    assert rank([pause], status="paused") == []


def test_discount_never_stacks_on_an_active_discount() -> None:
    discount, custom = offer("discount"), offer("custom")
    running = rank([discount, custom], discount_ends_at=NOW + timedelta(days=3))
    assert ids(running) == [custom.id]
    ended = rank([discount, custom], discount_ends_at=NOW - timedelta(days=3))
    assert set(ids(ended)) == {discount.id, custom.id}


@pytest.mark.parametrize(
    ("plan", "mrr", "currency", "expected"),
    [
        ("team", 5000, "USD", "pro"),  # most expensive cheaper plan
        ("pro", 3000, "USD", "basic"),  # the inactive legacy plan is skipped
        ("basic", 1000, "USD", None),  # a cheaper plan in another currency does not count
        ("team", 0, "USD", "pro"),  # paused (no MRR): the catalog price stands in
        ("team", 2500, "USD", "basic"),  # discounted: must undercut what they pay
        ("pro", 9000, "USD", "basic"),  # many seats: must undercut the plan's list price
        ("enterprise", 4000, "USD", "pro"),  # not in the catalog: the MRR decides
        ("enterprise", 0, "USD", None),  # nothing to compare with
        (None, 0, None, None),
        ("team", 5000, None, "pro"),  # currency unknown: the current catalog plan's
        ("pro", 3000, "eur", "basic-eu"),  # the customer's currency rules
    ],
)
def test_next_cheaper_resolution(
    plan: str | None, mrr: int, currency: str | None, expected: str | None
) -> None:
    downgrade = offer("downgrade")
    ranked = rank([downgrade], plan=plan, mrr=mrr, currency=currency)
    if expected is None:
        assert ranked == []
    else:
        assert [r.target_plan.plan_id for r in ranked] == [expected]


def test_next_cheaper_ties_go_to_the_smaller_plan_id() -> None:
    plans = [*PLANS, PlanSpec(plan_id="pro-annual", price=3000, currency="USD")]
    ranked = rank_offers(
        [offer("downgrade")], facts(plan="team", mrr=5000, currency="USD"), plans, {}
    )
    assert ranked[0].target_plan is not None
    assert ranked[0].target_plan.plan_id == "pro"


@pytest.mark.parametrize(
    ("target", "plan", "mrr", "offered"),
    [
        ("basic", "team", 5000, True),
        ("legacy", "team", 5000, False),  # inactive
        ("team", "pro", 3000, False),  # not cheaper
        ("pro", "pro", 3000, False),  # the current plan
        ("basic-eu", "team", 5000, False),  # another currency
        ("gone", "team", 5000, False),  # not in the catalog
    ],
)
def test_explicit_downgrade_target(target: str, plan: str, mrr: int, offered: bool) -> None:
    downgrade = offer("downgrade", params=DowngradeParams(target_plan_id=target))
    ranked = rank([downgrade], plan=plan, mrr=mrr)
    assert bool(ranked) is offered
    if offered:
        assert ranked[0].target_plan is not None
        assert ranked[0].target_plan.plan_id == target


def test_a_ranked_downgrade_shows_where_it_goes() -> None:
    ranked = rank([offer("downgrade")])
    assert ranked[0].params == {"target_plan_id": "pro", "price": 3000, "currency": "USD"}
    pause = rank([offer("pause")])
    assert pause[0].params == {"months": 3, "min_months": 1}


def test_offer_spec_refuses_params_of_another_kind() -> None:
    with pytest.raises(ValueError, match="not pause parameters"):
        offer("pause", params=DiscountParams(percent=10, months=1))


def test_facts_need_an_aware_now() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        CustomerFacts(now=datetime(2026, 1, 1))


# Holdout ---------------------------------------------------------------------------------------


def test_holdout_is_deterministic() -> None:
    answers = [in_holdout(TENANT, f"cus_{i}", 1000) for i in range(200)]
    assert answers == [in_holdout(TENANT, f"cus_{i}", 1000) for i in range(200)]
    assert answers == [in_holdout(str(TENANT), f"cus_{i}", 1000) for i in range(200)]


def test_holdout_is_the_same_in_another_process() -> None:
    customers = [f"cus_{i}" for i in range(50)]
    here = [holdout_bucket(TENANT, c) for c in customers]
    code = (
        "import sys, uuid; from app.offers.rules import holdout_bucket; "
        f"print([holdout_bucket(uuid.UUID('{TENANT}'), c) for c in {customers!r}])"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.strip() == str(here)


def test_pure_modules_import_neither_fastapi_nor_sqlalchemy() -> None:
    code = (
        "import sys; import app.offers.rules, app.offers.kinds, app.plans.catalog; "
        "print(sorted(m for m in ('fastapi', 'sqlalchemy', 'starlette') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_holdout_share_is_close_to_the_setting() -> None:
    held = sum(in_holdout(TENANT, f"customer-{i}", 1000) for i in range(20_000))
    assert 0.08 <= held / 20_000 <= 0.12


def test_zero_share_never_and_full_share_always() -> None:
    customers = [f"c{i}" for i in range(2000)]
    assert not any(in_holdout(TENANT, c, 0) for c in customers)
    assert all(in_holdout(TENANT, c, 10_000) for c in customers)


def test_raising_the_share_keeps_everyone_already_held_out() -> None:
    customers = [f"c{i}" for i in range(5000)]
    small = {c for c in customers if in_holdout(TENANT, c, 500)}
    large = {c for c in customers if in_holdout(TENANT, c, 2000)}
    assert small and small < large


def test_assignment_differs_between_tenants() -> None:
    other = uuid.UUID("6f1c1a52-3d0e-4b8e-9a8e-2f4b7f1c0002")
    customers = [f"c{i}" for i in range(2000)]
    mine = {c for c in customers if in_holdout(TENANT, c, 1000)}
    theirs = {c for c in customers if in_holdout(other, c, 1000)}
    assert mine != theirs


@pytest.mark.parametrize("share", [-1, 10_001])
def test_holdout_share_out_of_range_is_refused(share: int) -> None:
    with pytest.raises(ValueError, match="share_bp"):
        in_holdout(TENANT, "c", share)
