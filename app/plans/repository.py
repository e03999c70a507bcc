"""SQL over the plan catalog. Every statement is filtered by tenant."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence

from sqlalchemy import Result, literal_column, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Plan
from app.plans.catalog import PlanSpec


async def upsert_plan(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    plan_id: str,
    *,
    name: str,
    price: int,
    currency: str,
    active: bool,
) -> tuple[Plan, bool]:
    """Create or replace one plan in one statement (no read-then-write race); the flag says
    whether it was created. ``created_at`` survives a replace."""
    values = {"name": name, "price": price, "currency": currency, "active": active}
    statement = insert(Plan).values(tenant_id=tenant_id, plan_id=plan_id, **values)
    result: Result[Plan, bool] = await session.execute(
        statement.on_conflict_do_update(
            index_elements=[Plan.tenant_id, Plan.plan_id],
            # The inserted row's default, not now(): Citus refuses volatile SET expressions.
            set_={**values, "updated_at": statement.excluded.updated_at},
        )
        # xmax is 0 on a freshly inserted row version and set on one an upsert updated.
        .returning(Plan, literal_column("xmax = 0").label("created"))
        .execution_options(populate_existing=True)
    )
    row = result.one()
    return row[0], bool(row[1])


async def list_plans(session: AsyncSession, tenant_id: uuid.UUID) -> Sequence[Plan]:
    result = await session.scalars(
        select(Plan).where(Plan.tenant_id == tenant_id).order_by(Plan.price, Plan.plan_id)
    )
    return result.all()


async def plan_prices(
    session: AsyncSession, tenant_id: uuid.UUID, plan_ids: Collection[str]
) -> dict[str, tuple[int, str]]:
    """(price, currency) of each of ``plan_ids`` that is in the tenant's catalog, active or not
    (a purchase of a retired plan is still priced). Plans not in the catalog are absent."""
    if not plan_ids:
        return {}
    rows = await session.execute(
        select(Plan.plan_id, Plan.price, Plan.currency).where(
            Plan.tenant_id == tenant_id, Plan.plan_id.in_(set(plan_ids))
        )
    )
    return {plan_id: (price, currency) for plan_id, price, currency in rows}


async def plan_catalog(session: AsyncSession, tenant_id: uuid.UUID) -> list[PlanSpec]:
    """Every plan of the tenant as the pure ranking code takes it."""
    rows = await session.execute(
        select(Plan.plan_id, Plan.price, Plan.currency, Plan.active).where(
            Plan.tenant_id == tenant_id
        )
    )
    return [
        PlanSpec(plan_id=plan_id, price=price, currency=currency, active=active)
        for plan_id, price, currency, active in rows
    ]


async def plan_exists(session: AsyncSession, tenant_id: uuid.UUID, plan_id: str) -> bool:
    found = await session.scalar(
        select(Plan.plan_id).where(Plan.tenant_id == tenant_id, Plan.plan_id == plan_id)
    )
    return found is not None
