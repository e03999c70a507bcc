"""Folding a customer's events into its state (pure: no I/O, no clock).

A customer's state has two parts:

* **Lifecycle** (status, plan, MRR, pause and cancellation, NPS) depends on the order of events.
  It is the left fold of the customer's lifecycle events sorted by ``(occurred_at,
  idempotency_key)``: the key breaks ties, and since clients choose it (or it is derived from the
  content) the order never depends on arrival. Folding also emits every change of status, plan or
  MRR with the instant it takes effect (:class:`Change`), the source of churn metrics.
* **Totals** (counts, sums, first/last times) are commutative and are merged incrementally from
  each batch's new events, whatever their order.

Scheduled transitions — a cancellation with a future ``effective_at``, the end of a pause with a
``resume_at`` — fire at their instant: before any later event is applied, and, after the last
event, as future-dated changes. The stored state stays "after the newest event" with the pending
fields set; :func:`project` resolves them against a clock on read.

Semantics, per event type (``t`` = occurred_at):

* ``purchase`` with ``mrr > 0`` starts a subscription for a lead (``new``) and reactivates a
  cancelled customer (``reactivated``); with ``mrr`` it changes an active customer's MRR
  (``mrr_changed``) and resumes a paused one (``resumed``). A purchase without ``mrr`` is a
  one-off sale (a final invoice settled after a cancellation, say): totals only.
* ``cancellation`` of an active or paused subscriber: effective at ``effective_at`` (default
  ``t``); in the future it is *pending* and the customer stays active until then. Leads and
  cancelled customers are unaffected (a never-active customer cannot churn).
* ``pause`` of an active subscriber: ``paused`` with MRR 0 until ``resume_at`` (or until a
  ``resume``). Pausing again while paused moves ``paused_until``. A pending cancellation still
  takes effect while paused.
* ``resume`` ends a pause (``resumed``); for an active customer it withdraws a pending
  cancellation; for a cancelled customer it reactivates the subscription at the last plan price.
* ``plan_change`` sets plan and MRR: starts a subscription for a lead when ``mrr > 0``, changes
  an active customer's MRR (``mrr_changed``) or plan (``plan_changed``), updates a paused
  customer's plan price (``plan_changed``, MRR stays 0 until resumed), and only records the plan
  of a cancelled customer. With ``discount_until`` the new MRR is a temporary (discounted) price:
  at that instant the price before the discount returns (``mrr_changed``). Any later plan change
  ends a running discount; so does churn.
* ``feedback`` with ``nps`` moves the latest score to ``nps_previous``.
* ``usage`` and ``payment_failed`` affect totals only.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime

LIFECYCLE_TYPES = frozenset(
    {"purchase", "cancellation", "pause", "resume", "plan_change", "feedback"}
)
SUBSCRIBED = frozenset({"active", "paused"})


@dataclass(frozen=True, slots=True)
class FoldEvent:
    id: uuid.UUID
    key: str
    type: str
    occurred_at: datetime
    amount: int | None = None
    currency: str | None = None
    plan: str | None = None
    mrr: int | None = None
    quantity: int | None = None
    reason: str | None = None
    effective_at: datetime | None = None
    resume_at: datetime | None = None
    nps: int | None = None
    discount_until: datetime | None = None

    @property
    def sort_key(self) -> tuple[datetime, str]:
        return (self.occurred_at, self.key)


@dataclass(frozen=True, slots=True)
class Change:
    """A change of status, plan or MRR. ``mrr`` is the MRR counted after it (0 unless active)."""

    effective_at: datetime
    seq: int
    kind: str
    status: str
    previous_status: str
    plan: str | None
    mrr: int
    previous_mrr: int
    currency: str | None
    reason: str | None
    event_id: uuid.UUID | None


@dataclass(slots=True)
class Lifecycle:
    status: str = "lead"
    plan: str | None = None
    plan_mrr: int = 0
    currency: str | None = None
    subscribed_at: datetime | None = None
    paused_at: datetime | None = None
    paused_until: datetime | None = None
    cancel_requested_at: datetime | None = None
    cancel_effective_at: datetime | None = None
    cancel_reason: str | None = None
    cancelled_at: datetime | None = None
    reactivated_at: datetime | None = None
    nps_latest: int | None = None
    nps_previous: int | None = None
    nps_at: datetime | None = None
    discount_until: datetime | None = None
    discount_base_mrr: int | None = None
    # Which event scheduled the pending transitions (recorded on the changes they cause).
    pending_cancel_event: uuid.UUID | None = None
    pause_event: uuid.UUID | None = None
    discount_event: uuid.UUID | None = None

    @property
    def mrr(self) -> int:
        """MRR counted now: the plan price while active, 0 while paused, cancelled or a lead."""
        return self.plan_mrr if self.status == "active" else 0


@dataclass(slots=True)
class Totals:
    """Commutative aggregates: merging in any order gives the same result."""

    event_count: int = 0
    first_seen_at: datetime | None = None
    last_seen_at: datetime | None = None
    usage_events: int = 0
    usage_quantity: int = 0
    last_usage_at: datetime | None = None
    purchase_count: int = 0
    # Purchase amounts per currency: amounts in different currencies are never added.
    revenue: dict[str, int] = field(default_factory=dict)
    last_purchase_at: datetime | None = None
    payment_failed_count: int = 0
    last_payment_failed_at: datetime | None = None

    def merge(self, other: Totals) -> Totals:
        return Totals(
            event_count=self.event_count + other.event_count,
            first_seen_at=_min(self.first_seen_at, other.first_seen_at),
            last_seen_at=_max(self.last_seen_at, other.last_seen_at),
            usage_events=self.usage_events + other.usage_events,
            usage_quantity=self.usage_quantity + other.usage_quantity,
            last_usage_at=_max(self.last_usage_at, other.last_usage_at),
            purchase_count=self.purchase_count + other.purchase_count,
            revenue={
                currency: self.revenue.get(currency, 0) + other.revenue.get(currency, 0)
                for currency in sorted(self.revenue.keys() | other.revenue.keys())
            },
            last_purchase_at=_max(self.last_purchase_at, other.last_purchase_at),
            payment_failed_count=self.payment_failed_count + other.payment_failed_count,
            last_payment_failed_at=_max(self.last_payment_failed_at, other.last_payment_failed_at),
        )


def _min(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else min(a, b)


def _max(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else max(a, b)


def totals_of(events: Iterable[FoldEvent]) -> Totals:
    """The totals contributed by ``events`` (any order)."""
    totals = Totals()
    for event in events:
        totals.event_count += 1
        totals.first_seen_at = _min(totals.first_seen_at, event.occurred_at)
        totals.last_seen_at = _max(totals.last_seen_at, event.occurred_at)
        if event.type == "usage":
            totals.usage_events += 1
            totals.usage_quantity += event.quantity if event.quantity is not None else 1
            totals.last_usage_at = _max(totals.last_usage_at, event.occurred_at)
        elif event.type == "purchase":
            totals.purchase_count += 1
            if event.currency is not None:
                totals.revenue[event.currency] = totals.revenue.get(event.currency, 0) + (
                    event.amount or 0
                )
            totals.last_purchase_at = _max(totals.last_purchase_at, event.occurred_at)
        elif event.type == "payment_failed":
            totals.payment_failed_count += 1
            totals.last_payment_failed_at = _max(totals.last_payment_failed_at, event.occurred_at)
    return totals


@dataclass(slots=True)
class _Folder:
    state: Lifecycle = field(default_factory=Lifecycle)
    changes: list[Change] = field(default_factory=list)

    def record(
        self,
        at: datetime,
        kind: str,
        *,
        previous_status: str,
        previous_mrr: int,
        event_id: uuid.UUID | None,
        reason: str | None = None,
    ) -> None:
        seq = 0
        if self.changes and self.changes[-1].effective_at == at:
            seq = self.changes[-1].seq + 1
        self.changes.append(
            Change(
                effective_at=at,
                seq=seq,
                kind=kind,
                status=self.state.status,
                previous_status=previous_status,
                plan=self.state.plan,
                mrr=self.state.mrr,
                previous_mrr=previous_mrr,
                currency=self.state.currency,
                reason=reason,
                event_id=event_id,
            )
        )

    # -- scheduled transitions -------------------------------------------------------------

    def fire_due(self, until: datetime | None) -> None:
        """Apply scheduled transitions due at or before ``until`` (all of them when None)."""
        while True:
            s = self.state
            due_discount = s.discount_until if s.status in SUBSCRIBED else None
            due_resume = s.paused_until if s.status == "paused" else None
            due_cancel = s.cancel_effective_at if s.status in SUBSCRIBED else None
            candidates = [t for t in (due_discount, due_resume, due_cancel) if t is not None]
            if not candidates:
                return
            at = min(candidates)
            if until is not None and at > until:
                return
            # At one instant: a discount ends first, then a pause, then the cancellation.
            if due_discount is not None and due_discount == at:
                self.end_discount(at)
            elif due_resume is not None and due_resume == at:
                self.resume_from_pause(at, s.pause_event)
            else:
                self.churn(at, s.cancel_reason, s.pending_cancel_event)

    # -- transitions ------------------------------------------------------------------------

    def activate(self, at: datetime, kind: str, plan_mrr: int, event_id: uuid.UUID) -> None:
        s = self.state
        previous_status, previous_mrr = s.status, s.mrr
        s.status = "active"
        s.plan_mrr = plan_mrr
        s.paused_at = s.paused_until = None
        s.cancel_effective_at = s.pending_cancel_event = None
        if kind == "new":
            s.subscribed_at = at
        else:
            s.reactivated_at = at
        self.record(
            at, kind, previous_status=previous_status, previous_mrr=previous_mrr, event_id=event_id
        )

    def churn(self, at: datetime, reason: str | None, event_id: uuid.UUID | None) -> None:
        s = self.state
        previous_status, previous_mrr = s.status, s.mrr
        s.status = "cancelled"
        s.cancelled_at = at
        s.cancel_reason = reason
        s.cancel_effective_at = s.pending_cancel_event = None
        s.paused_at = s.paused_until = s.pause_event = None
        s.discount_until = s.discount_base_mrr = s.discount_event = None
        self.record(
            at,
            "churned",
            previous_status=previous_status,
            previous_mrr=previous_mrr,
            event_id=event_id,
            reason=reason,
        )

    def resume_from_pause(self, at: datetime, event_id: uuid.UUID | None) -> None:
        s = self.state
        previous_mrr = s.mrr
        s.status = "active"
        s.paused_at = s.paused_until = s.pause_event = None
        self.record(
            at, "resumed", previous_status="paused", previous_mrr=previous_mrr, event_id=event_id
        )

    def end_discount(self, at: datetime) -> None:
        s = self.state
        base, event_id = s.discount_base_mrr, s.discount_event
        s.discount_until = s.discount_base_mrr = s.discount_event = None
        if base is not None and event_id is not None:
            self.set_price(at, None, base, event_id)

    def set_price(self, at: datetime, plan: str | None, mrr: int, event_id: uuid.UUID) -> None:
        """A new plan and/or price for a subscriber; records a change when either moved."""
        s = self.state
        previous_mrr, previous_plan, previous_price = s.mrr, s.plan, s.plan_mrr
        if plan is not None:
            s.plan = plan
        s.plan_mrr = mrr
        if s.mrr != previous_mrr:
            kind = "mrr_changed"
        elif s.plan != previous_plan or (s.status == "paused" and s.plan_mrr != previous_price):
            kind = "plan_changed"
        else:
            return
        self.record(
            at, kind, previous_status=s.status, previous_mrr=previous_mrr, event_id=event_id
        )

    # -- events -----------------------------------------------------------------------------

    def apply(self, e: FoldEvent) -> None:
        s = self.state
        t = e.occurred_at
        if e.currency is not None and s.currency is None and e.type in {"purchase", "plan_change"}:
            s.currency = e.currency
        if e.type == "purchase":
            self._purchase(e)
        elif e.type == "plan_change":
            self._plan_change(e)
        elif e.type == "cancellation":
            if s.status in SUBSCRIBED:
                effective = e.effective_at if e.effective_at is not None else t
                s.cancel_requested_at = t
                s.cancel_reason = e.reason
                if effective <= t:
                    self.churn(t, e.reason, e.id)
                else:
                    s.cancel_effective_at = effective
                    s.pending_cancel_event = e.id
        elif e.type == "pause":
            if s.status == "active":
                previous_mrr = s.mrr
                s.status = "paused"
                s.paused_at = t
                s.paused_until = e.resume_at
                s.pause_event = e.id
                self.record(
                    t, "paused", previous_status="active", previous_mrr=previous_mrr, event_id=e.id
                )
            elif s.status == "paused":
                s.paused_until = e.resume_at
                s.pause_event = e.id
        elif e.type == "resume":
            if s.status == "paused":
                self.resume_from_pause(t, e.id)
            elif s.status == "active" and s.cancel_effective_at is not None:
                s.cancel_effective_at = s.pending_cancel_event = None
                s.cancel_requested_at = None
                s.cancel_reason = None
            elif s.status == "cancelled":
                self.activate(t, "reactivated", s.plan_mrr, e.id)
        elif e.type == "feedback" and e.nps is not None:
            s.nps_previous = s.nps_latest
            s.nps_latest = e.nps
            s.nps_at = t

    def _purchase(self, e: FoldEvent) -> None:
        s = self.state
        if e.plan is not None and (e.mrr is not None or s.status == "lead"):
            s.plan = e.plan
        if s.status == "lead":
            if e.mrr is not None and e.mrr > 0:
                self.activate(e.occurred_at, "new", e.mrr, e.id)
        elif s.status == "cancelled":
            # Only a subscription purchase brings a lost customer back: a one-off payment (a
            # final invoice settled after the cancellation, say) does not.
            if e.mrr is not None and e.mrr > 0:
                self.activate(e.occurred_at, "reactivated", e.mrr, e.id)
        elif e.mrr is not None:
            if s.status == "paused":
                s.plan_mrr = e.mrr
                self.resume_from_pause(e.occurred_at, e.id)
            else:
                self.set_price(e.occurred_at, None, e.mrr, e.id)

    def _plan_change(self, e: FoldEvent) -> None:
        s = self.state
        mrr = e.mrr if e.mrr is not None else s.plan_mrr
        if s.status == "lead":
            s.plan = e.plan
            if mrr > 0:
                self.activate(e.occurred_at, "new", mrr, e.id)
        elif s.status == "cancelled":
            s.plan = e.plan
            s.plan_mrr = mrr
        else:
            base = s.discount_base_mrr if s.discount_base_mrr is not None else s.plan_mrr
            # A new price replaces any running discount; a discounted one remembers the price
            # to return to when it ends.
            s.discount_until = s.discount_base_mrr = s.discount_event = None
            if e.discount_until is not None:
                s.discount_until, s.discount_base_mrr, s.discount_event = (
                    e.discount_until,
                    base,
                    e.id,
                )
            self.set_price(e.occurred_at, e.plan, mrr, e.id)


def fold_lifecycle(events: Iterable[FoldEvent]) -> tuple[Lifecycle, list[Change]]:
    """Fold lifecycle events (any order given; sorted here) into the final lifecycle state and
    the full list of changes, including scheduled ones after the last event."""
    folder = _Folder()
    for event in sorted((e for e in events if e.type in LIFECYCLE_TYPES), key=lambda e: e.sort_key):
        folder.fire_due(event.occurred_at)
        folder.apply(event)
    # Keep the state "as of the newest event" (pending fields intact) but emit the changes the
    # pending transitions will make.
    pending = _Folder(state=replace(folder.state), changes=list(folder.changes))
    pending.fire_due(None)
    return folder.state, pending.changes


def project(state: Lifecycle, now: datetime) -> Lifecycle:
    """The lifecycle state at ``now``: scheduled transitions due by then have happened."""
    folder = _Folder(state=replace(state))
    folder.fire_due(now)
    return folder.state
