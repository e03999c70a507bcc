from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from app import cursors
from app.customers import service
from app.customers.schemas import CustomerRead
from app.db import Session
from app.events.schemas import ID_PATTERN, EventPage, EventRead
from app.openapi import responses
from app.tenants.auth import Reader

router = APIRouter(prefix="/v1/customers", tags=["customers"])

CustomerIdPath = Annotated[str, Path(min_length=1, max_length=200, pattern=ID_PATTERN)]
EventType = Literal[
    "purchase",
    "usage",
    "cancellation",
    "pause",
    "resume",
    "plan_change",
    "payment_failed",
    "feedback",
]


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


@router.get(
    "/{customer_id}/events",
    response_model=EventPage,
    responses=responses(401, 403, 404, 422),
    summary="A customer's event timeline, newest first",
)
async def list_customer_events(
    customer_id: CustomerIdPath,
    principal: Reader,
    session: Session,
    type: Annotated[list[EventType] | None, Query(description="Only these types.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, cursors.TIME_ID_QUERY] = None,
) -> EventPage:
    events, next_cursor = await service.list_customer_events(
        session, principal.tenant_id, customer_id, types=type, cursor=cursor, limit=limit
    )
    return EventPage(items=[EventRead.model_validate(e) for e in events], next_cursor=next_cursor)
