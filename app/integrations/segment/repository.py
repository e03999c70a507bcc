"""SQL for a tenant's Segment track-name mappings."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import SegmentMapping


async def custom_mappings(session: AsyncSession, tenant_id: uuid.UUID) -> dict[str, str]:
    rows = await session.execute(
        select(SegmentMapping.event_name, SegmentMapping.event_type).where(
            SegmentMapping.tenant_id == tenant_id
        )
    )
    return {name: kind for name, kind in rows}


async def replace_mappings(
    session: AsyncSession, tenant_id: uuid.UUID, mappings: Mapping[str, str]
) -> None:
    await session.execute(delete(SegmentMapping).where(SegmentMapping.tenant_id == tenant_id))
    if mappings:
        await session.execute(
            insert(SegmentMapping),
            [
                {"tenant_id": tenant_id, "event_name": name, "event_type": kind}
                for name, kind in sorted(mappings.items())
            ],
        )
