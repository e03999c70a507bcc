"""GDPR: export everything stored about a customer, erase it, and audit both.

Erasure deletes the customer's rows in every table keyed by customer (state, events, status
history, usage rollup, and whatever later tables hold: scores, flows, comments) plus outbound
webhook deliveries that name the customer, in the request's one transaction. Metrics are
computed from those tables, so they recompute without the customer from then on.

The audit log never holds the erased data: the customer appears only as a per-tenant hash (see
:func:`customer_hash`), and an entry's details are row counts.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from app import cursors
from app.customers.fold import project
from app.customers.service import lifecycle_from_row
from app.errors import NotFound
from app.ids import uuid7
from app.models import AuditEntry
from app.privacy import repository

AuditAction = Literal["customer.exported", "customer.erased"]


def customer_hash(tenant_id: uuid.UUID, customer_id: str) -> str:
    """SHA-256 (hex) of ``"<tenant id>:<customer id>"``: stable, so a tenant that knows an id
    can find its audit entries, and different per tenant, so the same id in two tenants does
    not link their logs."""
    return hashlib.sha256(f"{tenant_id}:{customer_id}".encode()).hexdigest()


@dataclass(frozen=True)
class Export:
    customer_id: str
    exported_at: datetime
    tables: dict[str, list[dict[str, Any]]]


@dataclass(frozen=True)
class Erasure:
    customer_id: str
    erased_at: datetime
    rows: dict[str, int]
    audit_id: uuid.UUID


async def export_customer(
    session: AsyncSession, tenant_id: uuid.UUID, customer_id: str, *, actor_key_id: uuid.UUID
) -> Export:
    tables = await repository.rows_about(session, tenant_id, customer_id)
    if not any(tables.values()):
        raise NotFound(f"No customer {customer_id!r} in this tenant.")
    await repository.add_audit_entry(
        session,
        tenant_id,
        entry_id=uuid7(),
        actor_key_id=actor_key_id,
        action="customer.exported",
        target_hash=customer_hash(tenant_id, customer_id),
        details={"rows": {name: len(rows) for name, rows in tables.items()}},
    )
    now = datetime.now(UTC)
    return Export(customer_id=customer_id, exported_at=now, tables=projected(tables, now))


def projected(
    tables: dict[str, list[dict[str, Any]]], now: datetime
) -> dict[str, list[dict[str, Any]]]:
    """The export with the customer's state as the API shows it at ``now`` (a cancellation or
    pause end that fell due since the last event has happened), not the stored row."""
    customers = [
        {**row, **{name: value for name, value in asdict(state).items() if name in row}}
        for row in tables.get("customers", [])
        for state in [project(lifecycle_from_row(row), now)]
    ]
    return {**tables, "customers": customers} if "customers" in tables else tables


async def erase_customer(
    session: AsyncSession, tenant_id: uuid.UUID, customer_id: str, *, actor_key_id: uuid.UUID
) -> Erasure:
    await repository.lock_customer(session, tenant_id, customer_id)
    rows = await repository.erase(session, tenant_id, customer_id)
    if not any(rows.values()):
        raise NotFound(f"No customer {customer_id!r} in this tenant.")
    entry = await repository.add_audit_entry(
        session,
        tenant_id,
        entry_id=uuid7(),
        actor_key_id=actor_key_id,
        action="customer.erased",
        target_hash=customer_hash(tenant_id, customer_id),
        details={"rows": rows},
    )
    return Erasure(customer_id=customer_id, erased_at=entry.at, rows=rows, audit_id=entry.id)


def encode_cursor(entry: AuditEntry) -> str:
    return cursors.encode_time_id(entry.at, entry.id)


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    return cursors.decode_time_id(cursor)


async def list_audit_entries(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    *,
    action: str | None,
    customer_id: str | None,
    cursor: str | None,
    limit: int,
) -> tuple[Sequence[AuditEntry], str | None]:
    before = decode_cursor(cursor) if cursor else None
    page = await repository.audit_entries(
        session,
        tenant_id,
        action=action,
        target_hash=customer_hash(tenant_id, customer_id) if customer_id is not None else None,
        before=before,
        limit=limit + 1,
    )
    next_cursor = encode_cursor(page[limit - 1]) if len(page) > limit else None
    return page[:limit], next_cursor
