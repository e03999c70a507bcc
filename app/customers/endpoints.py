from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from app.customers import service
from app.customers.schemas import CustomerRead
from app.db import Session
from app.ids import ID_PATTERN
from app.openapi import responses
from app.tenants.auth import Reader

router = APIRouter(prefix="/v1/customers", tags=["customers"])

CustomerIdPath = Annotated[str, Path(min_length=1, max_length=200, pattern=ID_PATTERN)]


@router.get(
    "/{customer_id}",
    response_model=CustomerRead,
    responses=responses(401, 403, 404, 422),
    summary="A customer's current state",
)
async def get_customer(
    customer_id: CustomerIdPath, principal: Reader, session: Session
) -> CustomerRead:
    view = await service.get_customer(session, principal.tenant_id, customer_id)
    return CustomerRead.from_view(view)
