"""SQL for export, erasure and the audit log. Every statement filters by tenant."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, delete, func, insert, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.customers import repository as customers
from app.models import AuditEntry
from app.models.base import Base
from app.privacy.tables import JSON_REFERENCES, JsonReference, customer_tables


def _customer_filter(table: Table, tenant_id: uuid.UUID, customer_id: str) -> ColumnElement[bool]:
    return and_(table.c.tenant_id == tenant_id, table.c.customer_id == customer_id)


def _reference_filter(
    table: Table, ref: JsonReference, tenant_id: uuid.UUID, customer_id: str
) -> ColumnElement[bool]:
    return and_(table.c.tenant_id == tenant_id, table.c[ref.column][ref.path].astext == customer_id)


def _sources(tenant_id: uuid.UUID, customer_id: str) -> list[tuple[Table, ColumnElement[bool]]]:
    sources = [
        (table, _customer_filter(table, tenant_id, customer_id)) for table in customer_tables()
    ]
    for ref in JSON_REFERENCES:
        table = Base.metadata.tables[ref.table]
        sources.append((table, _reference_filter(table, ref, tenant_id, customer_id)))
    return sources


async def lock_customer(session: AsyncSession, tenant_id: uuid.UUID, customer_id: str) -> bool:
    """Lock the customer's state row, as ingest does before changing a customer, so an erasure
    and a concurrent batch for the same customer apply one after the other. False when there is
    no such row."""
    return bool(await customers.lock_customers(session, tenant_id, [customer_id]))


async def rows_about(
    session: AsyncSession, tenant_id: uuid.UUID, customer_id: str
) -> dict[str, list[dict[str, Any]]]:
    """Every stored row about the customer, by table, in primary-key order, without the
    tenant id."""
    out: dict[str, list[dict[str, Any]]] = {}
    for table, where in _sources(tenant_id, customer_id):
        columns = [column for column in table.c if column.name != "tenant_id"]
        result = await session.execute(
            select(*columns).where(where).order_by(*table.primary_key.columns)
        )
        out.setdefault(table.name, []).extend(dict(row._mapping) for row in result)
    return out


async def erase(session: AsyncSession, tenant_id: uuid.UUID, customer_id: str) -> dict[str, int]:
    """Delete every row about the customer in one statement; rows deleted per table."""
    counts = []
    for index, (table, where) in enumerate(_sources(tenant_id, customer_id)):
        deleted = delete(table).where(where).returning(literal(1).label("one")).cte(f"d{index}")
        count = select(func.count()).select_from(deleted).scalar_subquery().label(f"n{index}")
        counts.append((table.name, count))
    row = (await session.execute(select(*(count for _, count in counts)))).one()
    out: dict[str, int] = {}
    for (name, _), value in zip(counts, row, strict=True):
        out[name] = out.get(name, 0) + int(value)
    return out


async def add_audit_entry(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    *,
    entry_id: uuid.UUID,
    actor_key_id: uuid.UUID | None,
    action: str,
    target_hash: str | None,
    details: dict[str, Any],
) -> AuditEntry:
    result = await session.execute(
        insert(AuditEntry)
        .values(
            tenant_id=tenant_id,
            id=entry_id,
            actor_key_id=actor_key_id,
            action=action,
            target_hash=target_hash,
            details=details,
        )
        .returning(AuditEntry)
    )
    return result.scalar_one()


async def audit_entries(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    *,
    action: str | None,
    target_hash: str | None,
    before: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> Sequence[AuditEntry]:
    """The tenant's audit entries, newest first."""
    query = select(AuditEntry).where(AuditEntry.tenant_id == tenant_id)
    if action is not None:
        query = query.where(AuditEntry.action == action)
    if target_hash is not None:
        query = query.where(AuditEntry.target_hash == target_hash)
    if before is not None:
        at, entry_id = before
        query = query.where(
            or_(AuditEntry.at < at, and_(AuditEntry.at == at, AuditEntry.id < entry_id))
        )
    query = query.order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit)
    return (await session.scalars(query)).all()
