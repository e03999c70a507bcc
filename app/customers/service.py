"""Customer state: applying a batch's new events, and reading state and timelines."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app import cursors
from app.customers import repository
from app.customers.fold import (
    LIFECYCLE_TYPES,
    Change,
    FoldEvent,
    Lifecycle,
    Totals,
    fold_lifecycle,
    project,
    totals_of,
)
from app.customers.rhythm import Rhythm, rhythm
from app.errors import NotFound
from app.models import Customer, Event

_LIFECYCLE_FIELDS = [
    f.name
    for f in fields(Lifecycle)
    if f.name not in {"pending_cancel_event", "pause_event", "discount_event"}
]
_TOTALS_FIELDS = [f.name for f in fields(Totals)]


@dataclass(frozen=True, slots=True)
class Transition:
    """A customer's status before and after a batch (for outbound notifications)."""

    customer_id: str
    before: str
    after: str
    changes: tuple[Change, ...]


async def apply_new_events(
    session: AsyncSession, tenant_id: uuid.UUID, events: Sequence[tuple[str, FoldEvent]]
) -> list[Transition]:
    """Fold newly stored events into their customers' state, in the caller's transaction.

    Customers are locked first (in id order), so concurrent batches for one customer apply one
    after the other and lose nothing. Totals are merged incrementally; customers that received a
    lifecycle event are re-folded from all their lifecycle events, which makes the result
    independent of arrival order, and their status-change history is rewritten.
    """
    by_customer: dict[str, list[FoldEvent]] = defaultdict(list)
    for customer_id, event in events:
        by_customer[customer_id].append(event)
    if not by_customer:
        return []

    seen = [
        repository.SeenRange(
            customer_id,
            min(e.occurred_at for e in evs),
            max(e.occurred_at for e in evs),
        )
        for customer_id, evs in by_customer.items()
    ]
    rows = await repository.lock_customers(session, tenant_id, seen)
    refold = sorted(
        c for c, evs in by_customer.items() if any(e.type in LIFECYCLE_TYPES for e in evs)
    )
    history = await repository.lifecycle_events(session, tenant_id, refold)

    updates: list[dict[str, Any]] = []
    changes: dict[str, list[Change]] = {}
    transitions: list[Transition] = []
    for customer_id in sorted(by_customer):
        row = rows[customer_id]
        is_new = row["event_count"] == 0
        totals = _totals_from_row(row, is_new).merge(totals_of(by_customer[customer_id]))
        values = dict(row)
        values.update({name: getattr(totals, name) for name in _TOTALS_FIELDS})
        if customer_id in history:
            lifecycle, customer_changes = fold_lifecycle(history[customer_id])
            values.update({name: getattr(lifecycle, name) for name in _LIFECYCLE_FIELDS})
            values["mrr"] = lifecycle.mrr
            changes[customer_id] = customer_changes
            if lifecycle.status != row["status"]:
                transitions.append(
                    Transition(
                        customer_id, row["status"], lifecycle.status, tuple(customer_changes)
                    )
                )
        updates.append(values)

    await repository.update_customers(session, tenant_id, updates)
    await repository.replace_status_changes(session, tenant_id, changes)
    await repository.add_usage(session, tenant_id, _daily_usage(events))
    return transitions


def _totals_from_row(row: Mapping[str, Any], is_new: bool) -> Totals:
    if is_new:
        # A row created by this batch: its seen range is the batch's own, counted by the merge.
        return Totals()
    return Totals(**{name: row[name] for name in _TOTALS_FIELDS})


def _daily_usage(
    events: Sequence[tuple[str, FoldEvent]],
) -> dict[tuple[str, date], tuple[int, int]]:
    usage: dict[tuple[str, date], tuple[int, int]] = {}
    for customer_id, event in events:
        if event.type != "usage":
            continue
        key = (customer_id, event.occurred_at.astimezone(UTC).date())
        quantity, count = usage.get(key, (0, 0))
        usage[key] = (quantity + (event.quantity if event.quantity is not None else 1), count + 1)
    return usage


def lifecycle_from_row(customer: Customer | Mapping[str, Any]) -> Lifecycle:
    """The lifecycle state stored on a customer row (an ORM object or a plain row mapping)."""
    if isinstance(customer, Mapping):
        return Lifecycle(**{name: customer[name] for name in _LIFECYCLE_FIELDS})
    return Lifecycle(**{name: getattr(customer, name) for name in _LIFECYCLE_FIELDS})


@dataclass(frozen=True)
class CustomerView:
    row: Customer
    state: Lifecycle  # projected to ``as_of``
    as_of: datetime
    purchases: Rhythm
    revenue_currency: str | None  # the one currency of its purchases, if there is one


async def get_customer(
    session: AsyncSession, tenant_id: uuid.UUID, customer_id: str, now: datetime | None = None
) -> CustomerView:
    customer = await repository.get_customer(session, tenant_id, customer_id)
    if customer is None:
        raise NotFound(f"No customer {customer_id!r} in this tenant.")
    as_of = now or datetime.now(UTC)
    facts = await repository.purchase_facts(session, tenant_id, customer_id)
    tenant_median = (
        await tenant_median_interval(session, tenant_id) if facts.purchase_days == 1 else None
    )
    return CustomerView(
        row=customer,
        state=project(lifecycle_from_row(customer), as_of),
        as_of=as_of,
        purchases=rhythm(
            facts.purchase_days, facts.median_interval_days, facts.last_purchase_at, tenant_median
        ),
        revenue_currency=facts.currencies[0] if len(facts.currencies) == 1 else None,
    )


async def tenant_median_interval(session: AsyncSession, tenant_id: uuid.UUID) -> float | None:
    """The tenant's median interval across repeat buyers as of the periodic job's last run
    (``refresh_tenant_rhythm``); computed on the spot before the first run. It reads every
    purchase of the tenant, which is why it is not computed for every customer read."""
    stored = await repository.stored_tenant_median_interval(session, tenant_id)
    if stored is not None:
        return stored[0]
    return await repository.tenant_median_interval(session, tenant_id)


async def refresh_tenant_rhythm(session: AsyncSession, tenant_id: uuid.UUID, now: datetime) -> None:
    """Recompute and store the tenant's median interval (run by the periodic job)."""
    await repository.store_tenant_median_interval(session, tenant_id, now)


def encode_cursor(event: Event) -> str:
    return cursors.encode_time_id(event.occurred_at, event.id)


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    return cursors.decode_time_id(cursor)


async def list_customer_events(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    customer_id: str,
    *,
    types: Sequence[str] | None,
    cursor: str | None,
    limit: int,
) -> tuple[Sequence[Event], str | None]:
    before = decode_cursor(cursor) if cursor else None
    if await repository.get_customer(session, tenant_id, customer_id) is None:
        raise NotFound(f"No customer {customer_id!r} in this tenant.")
    page = await repository.customer_events(
        session, tenant_id, customer_id, types=types, before=before, limit=limit + 1
    )
    next_cursor = encode_cursor(page[limit - 1]) if len(page) > limit else None
    return page[:limit], next_cursor
