"""The worker's batch is shared max-min fairly among tenants with due deliveries."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.webhooks.fairness import fair_shares


def test_one_busy_tenant_gets_only_what_the_others_leave() -> None:
    assert fair_shares([("busy", 1000), ("a", 1), ("b", 2)], 10) == [
        ("busy", 7),
        ("a", 1),
        ("b", 2),
    ]


def test_equal_demand_splits_evenly_and_the_longest_waiting_get_the_remainder() -> None:
    assert fair_shares([("a", 50), ("b", 50), ("c", 50)], 10) == [("a", 4), ("b", 3), ("c", 3)]


def test_more_tenants_than_slots_serves_the_first_listed() -> None:
    assert fair_shares([(t, 5) for t in "abcde"], 3) == [("a", 1), ("b", 1), ("c", 1)]


def test_small_demand_leaves_the_batch_partly_empty() -> None:
    assert fair_shares([("a", 2), ("b", 1)], 10) == [("a", 2), ("b", 1)]
    assert fair_shares([], 10) == []
    assert fair_shares([("a", 3)], 0) == []


def test_negative_capacity_is_refused() -> None:
    with pytest.raises(ValueError, match="capacity"):
        fair_shares([("a", 1)], -1)


@given(
    st.lists(st.integers(min_value=0, max_value=40), max_size=12),
    st.integers(min_value=0, max_value=60),
)
def test_shares_are_max_min_fair(demands: list[int], capacity: int) -> None:
    due = list(enumerate(demands))
    shares = dict(fair_shares(due, capacity))
    total = sum(shares.values())
    assert total == min(capacity, sum(demands))
    for key, demand in due:
        got = shares.get(key, 0)
        assert 0 <= got <= demand
        # Nobody short of its demand gets less than another tenant's share minus one slot.
        if got < demand:
            assert all(other <= got + 1 for other in shares.values())
