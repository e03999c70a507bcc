"""Customer state: applying a batch's new events, and reading state and timelines."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.customers import repository
from app.customers.fold import LIFECYCLE_TYPES, FoldEvent, Lifecycle, fold_lifecycle, project
from app.customers.rhythm import Rhythm, rhythm
from app.errors import NotFound
from app.models import Customer


async def apply_new_events(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    events: Sequence[tuple[str, FoldEvent]],
    *,
    now: datetime,
) -> list[str]:
    """Fold newly stored events into their customers' state, in the caller's transaction;
    returns the touched customers' ids.

    One statement merges the counters (commutative, so arrival order does not matter), the
    usage days and the revenue per currency, creating and locking every touched customer in id
    order: concurrent batches for one customer apply one after the other and lose nothing.
    Only customers that received a lifecycle event are re-folded, from all their lifecycle
    events (independent of arrival order), and their status-change history rewritten. Their
    health scores are marked stale, not recomputed: a scorer materialises them within seconds
    (``app.health.freshness``).
    """
    touched = await repository.apply_counters(session, tenant_id, events, now)
    refold = sorted({cid for cid, e in events if e.type in LIFECYCLE_TYPES})
    if refold:
        history = await repository.lifecycle_events(session, tenant_id, refold)
        folded = {cid: fold_lifecycle(history[cid]) for cid in refold}
        await repository.update_lifecycle(
            session, tenant_id, {cid: state for cid, (state, _) in folded.items()}
        )
        await repository.replace_status_changes(
            session, tenant_id, {cid: changes for cid, (_, changes) in folded.items()}
        )
    return touched


def lifecycle_from_row(customer: Customer | Mapping[str, Any]) -> Lifecycle:
    """The lifecycle state stored on a customer row: an ORM object, or any row read by column
    name (a mapping, a driver record)."""
    if isinstance(customer, Customer):
        return Lifecycle(**{name: getattr(customer, name) for name in repository.LIFECYCLE_FIELDS})
    return Lifecycle(**{name: customer[name] for name in repository.LIFECYCLE_FIELDS})


@dataclass(frozen=True)
class CustomerView:
    row: Customer
    state: Lifecycle  # projected to ``as_of``
    as_of: datetime
    purchases: Rhythm
    revenue: dict[str, tuple[int, int]]  # {currency: (amount, purchases)}


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
        revenue=await repository.revenue(session, tenant_id, customer_id),
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
