from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from app.db import Session
from app.openapi import responses
from app.plans import service
from app.plans.catalog import PLAN_ID_MAX_LENGTH, PLAN_ID_PATTERN
from app.plans.schemas import PlanList, PlanPut, PlanRead
from app.tenants.auth import Admin, Reader

router = APIRouter(prefix="/v1/plans", tags=["plans"])

PlanIdPath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=PLAN_ID_MAX_LENGTH,
        pattern=PLAN_ID_PATTERN,
        description="Your plan identifier, e.g. 'pro-monthly'.",
    ),
]


@router.put(
    "/{plan_id}",
    response_model=PlanRead,
    responses={201: {"model": PlanRead, "description": "Created"}, **responses(401, 403, 422)},
    summary="Create or replace a catalog plan (201 when created, 200 when replaced)",
)
async def put_plan(
    plan_id: PlanIdPath, body: PlanPut, principal: Admin, session: Session, response: Response
) -> PlanRead:
    plan, created = await service.put_plan(session, principal.tenant_id, plan_id, body)
    response.status_code = 201 if created else 200
    return PlanRead.model_validate(plan)


@router.get(
    "",
    response_model=PlanList,
    responses=responses(401, 403),
    summary="List the plan catalog, cheapest first",
)
async def list_plans(principal: Reader, session: Session) -> PlanList:
    rows = await service.list_plans(session, principal.tenant_id)
    return PlanList(items=[PlanRead.model_validate(row) for row in rows])
