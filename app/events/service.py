"""Ingest: store each event exactly once and fold it into its customer, in one transaction.

Idempotency is permanent per tenant: ``(tenant, idempotency_key)`` is unique forever. The same key
with the same content is a duplicate (the original id is returned, nothing changes); the same key
with different content is a conflict. Content is compared through a hash of the canonical event
(UTC times, defaults filled in), so ``+01:00`` and ``Z`` spellings of one instant are the same
content. Without a client key, the key *is* that hash: a naive retry is still counted once.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from app.customers.service import apply_new_events
from app.events import repository
from app.events.repository import EventRow
from app.events.schemas import Event
from app.ids import uuid7, uuid7_many
from app.plans.repository import plan_prices

DERIVED_KEY_PREFIX = "sha256:"


@dataclass(frozen=True, slots=True)
class Outcome:
    status: Literal["accepted", "duplicate", "conflict", "invalid"]
    id: uuid.UUID | None
    errors: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class IngestResult:
    outcomes: list[Outcome]
    customers: list[str]  # the customers whose state changed


def content_hash(event: Event) -> str:
    canonical = event.model_dump(mode="json", exclude={"idempotency_key"})
    encoded = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(encoded.encode()).hexdigest()


def to_row(event: Event, event_id: uuid.UUID | None = None) -> EventRow:
    digest = content_hash(event)
    data = event.__dict__  # the validated fields; each event type has its own subset
    return EventRow(
        id=event_id or uuid7(),
        idempotency_key=event.idempotency_key or DERIVED_KEY_PREFIX + digest,
        content_hash=digest,
        customer_id=event.customer_id,
        type=event.type,
        occurred_at=event.occurred_at,
        amount=data.get("amount"),
        currency=data.get("currency"),
        plan=data.get("plan"),
        mrr=data.get("mrr"),
        quantity=data.get("quantity"),
        feature=data.get("feature"),
        reason=data.get("reason"),
        comment=data.get("comment"),
        effective_at=data.get("effective_at"),
        resume_at=data.get("resume_at"),
        nps=data.get("nps"),
        discount_until=data.get("discount_until"),
        properties=event.properties,
    )


async def _priced(
    session: AsyncSession, tenant_id: uuid.UUID, events: Sequence[Event]
) -> list[EventRow | Outcome]:
    """Rows for ``events``, with the MRR of a purchase or plan change that names a catalog plan
    but no ``mrr`` taken from the plan's price. A plan change without ``mrr`` whose plan is not
    in the catalog cannot be priced: it is invalid (nothing is stored for it).

    The content hash is the client's content, before pricing: a retry after the catalog changed
    is still the same event.
    """
    unpriced = {
        e.plan
        for e in events
        if e.type in ("purchase", "plan_change") and e.plan is not None and e.mrr is None
    }
    prices = await plan_prices(session, tenant_id, unpriced) if unpriced else {}
    out: list[EventRow | Outcome] = []
    for event, event_id in zip(events, uuid7_many(len(events)), strict=True):
        row = to_row(event, event_id)
        if row.type in ("purchase", "plan_change") and row.plan is not None and row.mrr is None:
            if row.plan in prices:
                price, currency = prices[row.plan]
                row = replace(row, mrr=price, currency=row.currency or currency)
            elif row.type == "plan_change":
                out.append(
                    Outcome(
                        "invalid",
                        None,
                        (
                            {
                                "loc": ["plan_change", "mrr"],
                                "msg": f"mrr is required: plan {row.plan!r} is not in the "
                                "catalog (PUT /v1/plans/{plan_id})",
                                "type": "missing",
                            },
                        ),
                    )
                )
                continue
        out.append(row)
    return out


async def ingest(
    session: AsyncSession, tenant_id: uuid.UUID, events: Sequence[Event], *, source: str = "api"
) -> IngestResult:
    """Store and fold ``events`` (already validated); one outcome per event, in order.

    Within one call the first occurrence of a key wins; later ones are duplicates of it (same
    content) or conflicts. Nothing is written for duplicates, conflicts and invalid events.
    """
    rows: list[EventRow | Outcome] = list(await _priced(session, tenant_id, events))
    first: dict[str, EventRow] = {}
    for row in rows:
        if isinstance(row, EventRow):
            first.setdefault(row.idempotency_key, row)

    inserted = await repository.insert_events(session, tenant_id, source, list(first.values()))
    stored = await repository.find_by_keys(
        session, tenant_id, [key for key in first if key not in inserted]
    )
    for key, event_id in inserted.items():
        stored[key] = (event_id, first[key].content_hash)

    outcomes: list[Outcome] = []
    for row in rows:
        if isinstance(row, Outcome):
            outcomes.append(row)
            continue
        original_id, original_hash = stored[row.idempotency_key]
        if row is first[row.idempotency_key] and row.idempotency_key in inserted:
            outcomes.append(Outcome("accepted", original_id))
        elif row.content_hash == original_hash:
            outcomes.append(Outcome("duplicate", original_id))
        else:
            outcomes.append(Outcome("conflict", original_id))

    new = [(row.customer_id, row.fold_event()) for key, row in first.items() if key in inserted]
    now = datetime.now(UTC)
    touched = await apply_new_events(session, tenant_id, new, now=now)
    return IngestResult(outcomes=outcomes, customers=touched)
