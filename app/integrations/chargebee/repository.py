"""SQL for a tenant's Chargebee webhook credentials."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import ChargebeeEndpoint


async def get_endpoint(session: AsyncSession, tenant_id: uuid.UUID) -> ChargebeeEndpoint | None:
    return await session.scalar(
        select(ChargebeeEndpoint).where(ChargebeeEndpoint.tenant_id == tenant_id)
    )


async def upsert_endpoint(
    session: AsyncSession, tenant_id: uuid.UUID, username: str, password_sha256: str, now: datetime
) -> ChargebeeEndpoint:
    statement = (
        insert(ChargebeeEndpoint)
        .values(
            tenant_id=tenant_id,
            username=username,
            password_sha256=password_sha256,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_update(
            index_elements=[ChargebeeEndpoint.tenant_id],
            set_={"username": username, "password_sha256": password_sha256, "updated_at": now},
        )
        .returning(ChargebeeEndpoint)
        .execution_options(populate_existing=True)
    )
    row: ChargebeeEndpoint = (await session.scalars(statement)).one()
    return row
