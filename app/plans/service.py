"""The plan catalog: what a tenant sells and at what monthly price."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import InvalidInput
from app.models import Plan
from app.plans import repository
from app.plans.catalog import RESERVED_PLAN_IDS
from app.plans.schemas import PlanPut


async def put_plan(
    session: AsyncSession, tenant_id: uuid.UUID, plan_id: str, body: PlanPut
) -> tuple[Plan, bool]:
    """Create or replace a plan; True when it was created."""
    if plan_id in RESERVED_PLAN_IDS:
        raise InvalidInput(
            f"'{plan_id}' is reserved: downgrade offers use it to mean the next cheaper plan.",
            errors=[{"loc": ["path", "plan_id"], "msg": "reserved plan id", "type": "reserved"}],
        )
    return await repository.upsert_plan(
        session,
        tenant_id,
        plan_id,
        name=body.name,
        price=body.price,
        currency=body.currency,
        active=body.active,
    )


async def list_plans(session: AsyncSession, tenant_id: uuid.UUID) -> Sequence[Plan]:
    return await repository.list_plans(session, tenant_id)
