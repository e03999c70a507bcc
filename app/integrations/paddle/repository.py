"""SQL for a tenant's Paddle notification secret."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import PaddleEndpoint


async def get_endpoint(session: AsyncSession, tenant_id: uuid.UUID) -> PaddleEndpoint | None:
    return await session.scalar(select(PaddleEndpoint).where(PaddleEndpoint.tenant_id == tenant_id))


async def upsert_endpoint(
    session: AsyncSession, tenant_id: uuid.UUID, webhook_secret: str, now: datetime
) -> PaddleEndpoint:
    statement = (
        insert(PaddleEndpoint)
        .values(tenant_id=tenant_id, webhook_secret=webhook_secret, created_at=now, updated_at=now)
        .on_conflict_do_update(
            index_elements=[PaddleEndpoint.tenant_id],
            set_={"webhook_secret": webhook_secret, "updated_at": now},
        )
        .returning(PaddleEndpoint)
        .execution_options(populate_existing=True)
    )
    row: PaddleEndpoint = (await session.scalars(statement)).one()
    return row
