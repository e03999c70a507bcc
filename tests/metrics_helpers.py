"""Building status-change histories for metric tests, and writing them into the database.

A :class:`Customer` records transitions the way ingestion will (previous status and MRR filled
in, ``new`` for a first activation, ``reactivated`` after a cancellation), so tests read as
stories: ``Customer("a").start(jan, 1000).cancel(feb)``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Self

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from app.metrics.churn import Change
from app.metrics.value import Purchase
from app.models import CustomerStatusChange, Event


def at(year: int, month: int, day: int = 1, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@dataclass
class Customer:
    customer_id: str
    currency: str | None = "USD"
    plan: str | None = "pro"
    changes: list[Change] = field(default_factory=list)

    @property
    def status(self) -> str:
        return self.changes[-1].status if self.changes else "lead"

    @property
    def mrr(self) -> int:
        return self.changes[-1].mrr if self.changes else 0

    def _add(
        self, when: datetime, kind: str, status: str, mrr: int, reason: str | None = None
    ) -> Self:
        seq = sum(1 for c in self.changes if c.effective_at == when)
        self.changes.append(
            Change(
                effective_at=when,
                seq=seq,
                kind=kind,
                status=status,
                previous_status=self.status,
                mrr=mrr,
                previous_mrr=self.mrr,
                plan=self.plan,
                currency=self.currency,
                reason=reason,
            )
        )
        return self

    def start(self, when: datetime, mrr: int, plan: str | None = None) -> Self:
        if plan is not None:
            self.plan = plan
        kind = "reactivated" if self.changes else "new"
        return self._add(when, kind, "active", mrr)

    def cancel(self, when: datetime, reason: str | None = None) -> Self:
        return self._add(when, "churned", "cancelled", 0, reason)

    def pause(self, when: datetime) -> Self:
        return self._add(when, "paused", "paused", 0)

    def resume(self, when: datetime, mrr: int) -> Self:
        return self._add(when, "resumed", "active", mrr)

    def change(self, when: datetime, mrr: int, plan: str | None = None) -> Self:
        if plan is not None and plan != self.plan:
            self.plan = plan
            return self._add(when, "plan_changed", "active", mrr)
        return self._add(when, "mrr_changed", "active", mrr)


def timelines(customers: Iterable[Customer]) -> dict[str, list[Change]]:
    return {c.customer_id: list(c.changes) for c in customers}


def rows(tenant_id: uuid.UUID, customers: Iterable[Customer]) -> list[dict[str, Any]]:
    return [
        {
            "tenant_id": tenant_id,
            "customer_id": c.customer_id,
            "effective_at": ch.effective_at,
            "seq": ch.seq,
            "kind": ch.kind,
            "status": ch.status,
            "previous_status": ch.previous_status,
            "plan": ch.plan,
            "mrr": ch.mrr,
            "previous_mrr": ch.previous_mrr,
            "currency": ch.currency,
            "reason": ch.reason,
        }
        for c in customers
        for ch in c.changes
    ]


async def store(conn: AsyncConnection, tenant_id: uuid.UUID, *customers: Customer) -> None:
    """Write the customers' changes straight into ``customer_status_changes``."""
    values = rows(tenant_id, customers)
    if values:
        await conn.execute(insert(CustomerStatusChange), values)


async def store_purchases(
    conn: AsyncConnection, tenant_id: uuid.UUID, purchases: Iterable[Purchase]
) -> None:
    """Write purchase events straight into ``events`` (no folding: metrics read them as they
    are)."""
    values = [
        {
            "tenant_id": tenant_id,
            "id": uuid.uuid4(),
            "idempotency_key": f"p{i}",
            "content_hash": "-",
            "customer_id": p.customer_id,
            "type": "purchase",
            "occurred_at": p.occurred_at,
            "amount": p.amount,
            "currency": p.currency,
        }
        for i, p in enumerate(purchases)
    ]
    if values:
        await conn.execute(insert(Event), values)
