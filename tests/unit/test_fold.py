"""The pure fold: each event type's effect, scheduled transitions, and order independence."""

import itertools
import random
import uuid
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from app.customers.fold import FoldEvent, Totals, fold_lifecycle, project, totals_of

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def ev(kind: str, at: datetime, key: str | None = None, **fields: object) -> FoldEvent:
    return FoldEvent(
        id=uuid.uuid4(), key=key or f"{kind}-{at.isoformat()}", type=kind, occurred_at=at, **fields
    )  # type: ignore[arg-type]


def kinds(changes) -> list[tuple[str, str, int]]:  # type: ignore[no-untyped-def]
    return [(c.kind, c.status, c.mrr) for c in changes]


def test_purchase_with_mrr_starts_a_subscription() -> None:
    state, changes = fold_lifecycle(
        [ev("purchase", day(0), amount=4900, currency="USD", mrr=4900, plan="pro")]
    )
    assert state.status == "active"
    assert (state.plan, state.plan_mrr, state.mrr, state.currency) == ("pro", 4900, 4900, "USD")
    assert state.subscribed_at == day(0)
    assert kinds(changes) == [("new", "active", 4900)]
    assert changes[0].previous_status == "lead"


def test_one_off_purchase_keeps_a_lead_a_lead() -> None:
    state, changes = fold_lifecycle([ev("purchase", day(0), amount=900, currency="USD")])
    assert state.status == "lead"
    assert changes == []


def test_immediate_cancellation_churns_with_reason() -> None:
    state, changes = fold_lifecycle(
        [
            ev("purchase", day(0), amount=1, currency="USD", mrr=1000),
            ev("cancellation", day(10), reason="too_expensive"),
        ]
    )
    assert state.status == "cancelled"
    assert state.mrr == 0 and state.plan_mrr == 1000
    assert state.cancelled_at == day(10)
    assert kinds(changes) == [("new", "active", 1000), ("churned", "cancelled", 0)]
    assert changes[-1].reason == "too_expensive" and changes[-1].previous_mrr == 1000


def test_future_cancellation_is_pending_until_it_takes_effect() -> None:
    state, changes = fold_lifecycle(
        [
            ev("purchase", day(0), amount=1, currency="USD", mrr=1000),
            ev("cancellation", day(10), reason="unused", effective_at=day(30)),
        ]
    )
    assert state.status == "active"
    assert state.cancel_effective_at == day(30)
    assert state.cancel_requested_at == day(10)
    # the history already holds the scheduled churn, at the instant it takes effect
    assert [(c.kind, c.effective_at) for c in changes] == [("new", day(0)), ("churned", day(30))]
    assert project(state, day(29)).status == "active"
    after = project(state, day(30))
    assert after.status == "cancelled" and after.mrr == 0 and after.cancelled_at == day(30)


def test_resume_withdraws_a_pending_cancellation() -> None:
    state, changes = fold_lifecycle(
        [
            ev("purchase", day(0), amount=1, currency="USD", mrr=1000),
            ev("cancellation", day(10), effective_at=day(30)),
            ev("resume", day(20)),
        ]
    )
    assert state.status == "active" and state.cancel_effective_at is None
    assert kinds(changes) == [("new", "active", 1000)]
    assert project(state, day(60)).status == "active"


def test_a_later_event_fires_the_due_cancellation_first() -> None:
    state, changes = fold_lifecycle(
        [
            ev("purchase", day(0), amount=1, currency="USD", mrr=1000),
            ev("cancellation", day(10), effective_at=day(30)),
            ev("purchase", day(40), amount=1, currency="USD", mrr=1200),
        ]
    )
    assert kinds(changes) == [
        ("new", "active", 1000),
        ("churned", "cancelled", 0),
        ("reactivated", "active", 1200),
    ]
    assert state.status == "active" and state.reactivated_at == day(40)


def test_pause_with_resume_date_ends_by_itself() -> None:
    state, changes = fold_lifecycle(
        [
            ev("purchase", day(0), amount=1, currency="USD", mrr=1000),
            ev("pause", day(5), resume_at=day(65)),
        ]
    )
    assert state.status == "paused" and state.mrr == 0 and state.plan_mrr == 1000
    assert [(c.kind, c.effective_at, c.mrr) for c in changes] == [
        ("new", day(0), 1000),
        ("paused", day(5), 0),
        ("resumed", day(65), 1000),
    ]
    assert project(state, day(64)).status == "paused"
    assert project(state, day(65)).status == "active"


def test_resume_ends_an_open_pause_and_a_second_pause_moves_the_date() -> None:
    state, changes = fold_lifecycle(
        [
            ev("purchase", day(0), amount=1, currency="USD", mrr=1000),
            ev("pause", day(5)),
            ev("pause", day(6), resume_at=day(10), key="p2"),
            ev("resume", day(8)),
        ]
    )
    assert state.status == "active"
    assert kinds(changes) == [
        ("new", "active", 1000),
        ("paused", "paused", 0),
        ("resumed", "active", 1000),
    ]
    assert changes[-1].effective_at == day(8)


def test_pause_of_a_lead_or_cancelled_customer_is_ignored() -> None:
    state, changes = fold_lifecycle([ev("pause", day(1)), ev("resume", day(2))])
    assert state.status == "lead" and changes == []
    state, changes = fold_lifecycle(
        [
            ev("purchase", day(0), amount=1, currency="USD", mrr=1000),
            ev("cancellation", day(1)),
            ev("pause", day(2)),
        ]
    )
    assert state.status == "cancelled"
    assert [c.kind for c in changes] == ["new", "churned"]


def test_pending_cancellation_takes_effect_while_paused() -> None:
    state, changes = fold_lifecycle(
        [
            ev("purchase", day(0), amount=1, currency="USD", mrr=1000),
            ev("cancellation", day(10), effective_at=day(30), reason="unused"),
            ev("pause", day(12)),
        ]
    )
    assert state.status == "paused"
    assert [(c.kind, c.previous_status) for c in changes] == [
        ("new", "lead"),
        ("paused", "active"),
        ("churned", "paused"),
    ]
    assert project(state, day(31)).status == "cancelled"


def test_cancellation_of_a_lead_is_not_churn() -> None:
    state, changes = fold_lifecycle([ev("cancellation", day(1), reason="other")])
    assert state.status == "lead" and changes == []


def test_resume_after_cancellation_reactivates_at_last_price() -> None:
    state, changes = fold_lifecycle(
        [
            ev("plan_change", day(0), plan="basic", mrr=500),
            ev("cancellation", day(3)),
            ev("resume", day(9)),
        ]
    )
    assert kinds(changes) == [
        ("new", "active", 500),
        ("churned", "cancelled", 0),
        ("reactivated", "active", 500),
    ]
    assert state.plan == "basic"


def test_plan_changes_record_expansion_contraction_and_plan_swaps() -> None:
    state, changes = fold_lifecycle(
        [
            ev("purchase", day(0), amount=1, currency="USD", mrr=1000, plan="pro"),
            ev("plan_change", day(1), plan="team", mrr=3000),
            ev("plan_change", day(2), plan="basic", mrr=500),
            ev("plan_change", day(3), plan="basic-annual", mrr=500),
            ev("plan_change", day(4), plan="basic-annual", mrr=500, key="same"),
        ]
    )
    assert [(c.kind, c.previous_mrr, c.mrr, c.plan) for c in changes] == [
        ("new", 0, 1000, "pro"),
        ("mrr_changed", 1000, 3000, "team"),
        ("mrr_changed", 3000, 500, "basic"),
        ("plan_changed", 500, 500, "basic-annual"),
    ]
    assert state.mrr == 500


def test_plan_change_while_paused_keeps_mrr_zero_until_resume() -> None:
    _state, changes = fold_lifecycle(
        [
            ev("purchase", day(0), amount=1, currency="USD", mrr=1000),
            ev("pause", day(1)),
            ev("plan_change", day(2), plan="basic", mrr=400),
            ev("resume", day(3)),
        ]
    )
    assert [(c.kind, c.mrr) for c in changes] == [
        ("new", 1000),
        ("paused", 0),
        ("plan_changed", 0),
        ("resumed", 400),
    ]


def test_purchase_with_mrr_resumes_a_paused_customer() -> None:
    state, changes = fold_lifecycle(
        [
            ev("purchase", day(0), amount=1, currency="USD", mrr=1000),
            ev("pause", day(1)),
            ev("purchase", day(5), amount=1, currency="USD", mrr=1100),
        ]
    )
    assert state.status == "active" and state.mrr == 1100
    assert changes[-1].kind == "resumed"


def test_feedback_keeps_latest_and_previous_nps() -> None:
    state, _ = fold_lifecycle([ev("feedback", day(1), nps=9), ev("feedback", day(5), nps=3)])
    assert (state.nps_latest, state.nps_previous, state.nps_at) == (3, 9, day(5))


def test_same_instant_ties_break_on_the_key_not_the_arrival() -> None:
    a = ev("purchase", day(0), key="a", amount=1, currency="USD", mrr=1000)
    b = ev("cancellation", day(0), key="b")
    assert fold_lifecycle([a, b]) == fold_lifecycle([b, a])
    assert fold_lifecycle([a, b])[0].status == "cancelled"


def test_totals_count_every_type() -> None:
    totals = totals_of(
        [
            ev("usage", day(1), quantity=3),
            ev("usage", day(2)),
            ev("purchase", day(3), amount=4900, currency="USD"),
            ev("payment_failed", day(4)),
            ev("feedback", day(0), nps=5),
        ]
    )
    assert totals == Totals(
        event_count=5,
        first_seen_at=day(0),
        last_seen_at=day(4),
        usage_events=2,
        usage_quantity=4,
        last_usage_at=day(2),
        purchase_count=1,
        revenue={"USD": 4900},
        last_purchase_at=day(3),
        payment_failed_count=1,
        last_payment_failed_at=day(4),
    )


EVENT_KINDS = [
    "purchase",
    "usage",
    "cancellation",
    "pause",
    "resume",
    "plan_change",
    "payment_failed",
    "feedback",
]


@st.composite
def histories(draw: st.DrawFn) -> list[FoldEvent]:
    n = draw(st.integers(min_value=1, max_value=25))
    events = []
    for i in range(n):
        kind = draw(st.sampled_from(EVENT_KINDS))
        at = day(draw(st.integers(min_value=0, max_value=40)))
        extra: dict[str, object] = {}
        if kind == "purchase":
            extra = {
                "amount": 100,
                "currency": "USD",
                "mrr": draw(st.sampled_from([None, 0, 500, 1000])),
            }
        elif kind == "plan_change":
            extra = {
                "plan": draw(st.sampled_from(["a", "b"])),
                "mrr": draw(st.sampled_from([0, 500, 2000])),
            }
        elif kind == "cancellation":
            extra = {"effective_at": draw(st.sampled_from([None, at + timedelta(days=7)]))}
        elif kind == "pause":
            extra = {"resume_at": draw(st.sampled_from([None, at + timedelta(days=3)]))}
        elif kind == "feedback":
            extra = {"nps": draw(st.integers(0, 10))}
        events.append(ev(kind, at, key=f"k{i:03d}", **extra))
    return events


@settings(max_examples=300, deadline=None)
@given(histories(), st.randoms())
def test_any_arrival_order_folds_to_the_same_state_and_history(
    events: list[FoldEvent], rnd: random.Random
) -> None:
    shuffled = list(events)
    rnd.shuffle(shuffled)
    assert fold_lifecycle(shuffled) == fold_lifecycle(events)
    split = rnd.randint(0, len(shuffled))
    merged = totals_of(shuffled[:split]).merge(totals_of(shuffled[split:]))
    assert merged == totals_of(events)


@settings(max_examples=300, deadline=None)
@given(histories())
def test_history_is_consistent(events: list[FoldEvent]) -> None:
    _state, changes = fold_lifecycle(events)
    times = [(c.effective_at, c.seq) for c in changes]
    assert times == sorted(times)
    assert len(set(times)) == len(times)  # the primary key of the stored history
    for before, after in itertools.pairwise(changes):
        assert after.previous_status == before.status
        assert after.previous_mrr == before.mrr
    for change in changes:
        assert (change.mrr > 0) <= (change.status == "active")
        assert change.status != change.previous_status or change.kind in {
            "mrr_changed",
            "plan_changed",
        }


def test_a_discount_lowers_mrr_until_it_ends() -> None:
    state, changes = fold_lifecycle(
        [
            ev("purchase", day(0), amount=1, currency="USD", mrr=4000, plan="pro"),
            ev("plan_change", day(10), plan="pro", mrr=3000, discount_until=day(100)),
        ]
    )
    assert (state.mrr, state.discount_until, state.discount_base_mrr) == (3000, day(100), 4000)
    assert [(c.kind, c.effective_at, c.mrr) for c in changes] == [
        ("new", day(0), 4000),
        ("mrr_changed", day(10), 3000),
        ("mrr_changed", day(100), 4000),
    ]
    assert project(state, day(99)).mrr == 3000
    after = project(state, day(100))
    assert (after.mrr, after.discount_until) == (4000, None)


def test_churn_or_a_new_price_ends_a_discount() -> None:
    base = [
        ev("purchase", day(0), amount=1, currency="USD", mrr=4000, plan="pro"),
        ev("plan_change", day(10), plan="pro", mrr=3000, discount_until=day(100)),
    ]
    state, changes = fold_lifecycle([*base, ev("cancellation", day(20))])
    assert state.discount_until is None
    assert [c.kind for c in changes] == ["new", "mrr_changed", "churned"]
    state, changes = fold_lifecycle([*base, ev("plan_change", day(30), plan="team", mrr=9000)])
    assert (state.mrr, state.discount_until) == (9000, None)
    assert [c.kind for c in changes] == ["new", "mrr_changed", "mrr_changed"]


def test_a_one_off_payment_after_cancellation_does_not_reactivate() -> None:
    state, changes = fold_lifecycle(
        [
            ev("purchase", day(0), amount=1, currency="USD", mrr=1000),
            ev("cancellation", day(10)),
            ev("purchase", day(11), amount=250, currency="USD"),
        ]
    )
    assert state.status == "cancelled"
    assert [c.kind for c in changes] == ["new", "churned"]
