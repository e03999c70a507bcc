"""SQL over offers and offer settings. Every statement is filtered by tenant; deleted offers are
invisible to everything but history."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Result, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Offer, OfferSettings
from app.offers.kinds import OfferKind, parse_params
from app.offers.rules import OfferSpec, parse_rules


async def insert_offers(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Insert offers in one statement; each row carries its ``tenant_id`` and ``id``."""
    if rows:
        await session.execute(insert(Offer), list(rows))


async def get_live_offer(
    session: AsyncSession, tenant_id: uuid.UUID, offer_id: uuid.UUID, *, for_update: bool = False
) -> Offer | None:
    statement = select(Offer).where(
        Offer.tenant_id == tenant_id, Offer.id == offer_id, Offer.deleted_at.is_(None)
    )
    if for_update:
        statement = statement.with_for_update()
    return await session.scalar(statement)


async def list_live_offers(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    *,
    active: bool | None = None,
    kind: str | None = None,
) -> Sequence[Offer]:
    statement = select(Offer).where(Offer.tenant_id == tenant_id, Offer.deleted_at.is_(None))
    if active is not None:
        statement = statement.where(Offer.active.is_(active))
    if kind is not None:
        statement = statement.where(Offer.kind == kind)
    result = await session.scalars(
        statement.order_by(Offer.priority.desc(), Offer.created_at, Offer.id)
    )
    return result.all()


async def soft_delete_offer(
    session: AsyncSession, tenant_id: uuid.UUID, offer_id: uuid.UUID, now: datetime
) -> bool:
    result = await session.execute(
        update(Offer)
        .where(Offer.tenant_id == tenant_id, Offer.id == offer_id, Offer.deleted_at.is_(None))
        .values(deleted_at=now, updated_at=now, active=False)
        .returning(Offer.id)
    )
    return result.first() is not None


async def offer_specs(session: AsyncSession, tenant_id: uuid.UUID) -> list[OfferSpec]:
    """The tenant's active, live offers as the pure ranking code takes them."""
    rows = await list_live_offers(session, tenant_id, active=True)
    return [
        OfferSpec(
            id=row.id,
            # The column's check constraint admits only the known kinds.
            kind=cast(OfferKind, row.kind),
            title=row.title,
            description=row.description,
            params=parse_params(row.kind, row.params),
            rules=tuple(parse_rules(row.rules)),
            priority=row.priority,
            active=row.active,
            created_at=row.created_at,
        )
        for row in rows
    ]


async def get_settings(session: AsyncSession, tenant_id: uuid.UUID) -> OfferSettings | None:
    return await session.scalar(select(OfferSettings).where(OfferSettings.tenant_id == tenant_id))


async def upsert_settings(
    session: AsyncSession, tenant_id: uuid.UUID, *, holdout_share_bp: int, keep_days: int
) -> OfferSettings:
    values = {"holdout_share_bp": holdout_share_bp, "keep_days": keep_days}
    statement = pg_insert(OfferSettings).values(tenant_id=tenant_id, **values)
    result: Result[OfferSettings] = await session.execute(
        statement.on_conflict_do_update(
            index_elements=[OfferSettings.tenant_id],
            set_={**values, "updated_at": statement.excluded.updated_at},
        )
        .returning(OfferSettings)
        .execution_options(populate_existing=True)
    )
    return result.scalar_one()
