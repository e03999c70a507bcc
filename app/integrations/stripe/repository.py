"""SQL for a tenant's Stripe endpoint secret."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import StripeEndpoint


async def get_endpoint(session: AsyncSession, tenant_id: uuid.UUID) -> StripeEndpoint | None:
    return await session.scalar(select(StripeEndpoint).where(StripeEndpoint.tenant_id == tenant_id))


async def upsert_endpoint(
    session: AsyncSession, tenant_id: uuid.UUID, webhook_secret: str
) -> StripeEndpoint:
    inserted = insert(StripeEndpoint).values(tenant_id=tenant_id, webhook_secret=webhook_secret)
    statement = (
        inserted.on_conflict_do_update(
            index_elements=[StripeEndpoint.tenant_id],
            set_={"webhook_secret": webhook_secret, "updated_at": inserted.excluded.updated_at},
        )
        .returning(StripeEndpoint)
        .execution_options(populate_existing=True)
    )
    row: StripeEndpoint = (await session.scalars(statement)).one()
    return row
