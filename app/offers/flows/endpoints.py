"""Cancellation flows over HTTP.

Starting and deciding a flow writes (events, the flow, webhooks), so those calls need an
``events:write`` key (or ``admin``): the same key a billing system already posts its events
with. Reading flows and the report needs ``read``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response

from app.db import Session
from app.errors import InvalidInput
from app.ids import ID_PATTERN
from app.inputs import RANGE_END, RANGE_START, TimeParam
from app.offers import report
from app.offers.flows import service
from app.offers.flows.schemas import (
    FlowAccept,
    FlowDecline,
    FlowList,
    FlowRead,
    FlowReportRead,
    FlowStart,
)
from app.openapi import responses
from app.tenants.auth import EventsWriter, Reader

router = APIRouter(tags=["cancellation flows"])

CustomerIdPath = Annotated[str, Path(min_length=1, max_length=200, pattern=ID_PATTERN)]
MAX_REPORT_SPAN = timedelta(days=3660)


def _ok_with(description: str) -> dict[int | str, dict[str, Any]]:
    return {200: {"model": FlowRead, "description": description}}


@router.post(
    "/v1/customers/{customer_id}/cancellation-flows",
    status_code=201,
    response_model=FlowRead,
    responses={
        **_ok_with("The customer's open flow with the same reason, unchanged (a retry)."),
        **responses(401, 403, 404, 409, 422),
    },
    summary="Start a cancellation flow: the offers to show a customer who wants to cancel",
    description="Only active or paused subscribers (others: 409). One open flow per customer: "
    "the same reason again returns it (200); another reason is a 409 naming it. In the "
    "holdout (`variant: holdout`) no offer is shown.",
)
async def start_cancellation_flow(
    customer_id: CustomerIdPath,
    body: FlowStart,
    principal: EventsWriter,
    session: Session,
    response: Response,
) -> FlowRead:
    started = await service.start_flow(
        session, principal.tenant_id, customer_id, reason=body.reason, comment=body.comment
    )
    if not started.created:
        response.status_code = 200
    return FlowRead.from_row(started.flow, datetime.now(UTC))


@router.get(
    "/v1/customers/{customer_id}/cancellation-flows",
    response_model=FlowList,
    responses=responses(401, 403, 404, 422),
    summary="A customer's cancellation flows, newest first",
)
async def list_customer_cancellation_flows(
    customer_id: CustomerIdPath,
    principal: Reader,
    session: Session,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> FlowList:
    flows = await service.list_customer_flows(
        session, principal.tenant_id, customer_id, limit=limit
    )
    now = datetime.now(UTC)
    return FlowList(items=[FlowRead.from_row(flow, now) for flow in flows])


# Declared before /{flow_id}, which would otherwise claim the path.
@router.get(
    "/v1/cancellation-flows/report",
    response_model=FlowReportRead,
    responses=responses(401, 403, 422),
    summary="What cancellation flows achieve: save rates and lift over the holdout",
    description="Flows started in [start, end), per offer kind, reason and variant, as of now.",
)
async def cancellation_flow_report(
    principal: Reader,
    session: Session,
    start: Annotated[TimeParam, Query(description=RANGE_START)],
    end: Annotated[TimeParam, Query(description=RANGE_END)],
) -> FlowReportRead:
    if not start < end <= start + MAX_REPORT_SPAN:
        raise InvalidInput(
            "end must be after start, by at most 3660 days.",
            errors=[{"loc": ["query", "end"], "msg": "out of range"}],
        )
    await service.expire_overdue_flows(session, principal.tenant_id)
    return FlowReportRead.of(await report.flow_report(session, principal.tenant_id, start, end))


@router.get(
    "/v1/cancellation-flows/{flow_id}",
    response_model=FlowRead,
    responses=responses(401, 403, 404, 422),
    summary="Read a cancellation flow",
)
async def get_cancellation_flow(
    flow_id: uuid.UUID, principal: Reader, session: Session
) -> FlowRead:
    flow = await service.get_flow(session, principal.tenant_id, flow_id)
    return FlowRead.from_row(flow, datetime.now(UTC))


@router.post(
    "/v1/cancellation-flows/{flow_id}/accept",
    response_model=FlowRead,
    responses=responses(401, 403, 404, 409, 422),
    summary="Accept an offer the flow showed, and apply it to the customer",
    description="422 for an offer this flow did not show; 409 when the flow was already "
    "decided otherwise or was abandoned (not decided within 24 h). Accepting the same offer "
    "again returns the flow unchanged.",
)
async def accept_cancellation_offer(
    flow_id: uuid.UUID, body: FlowAccept, principal: EventsWriter, session: Session
) -> FlowRead:
    flow = await service.accept_offer(
        session, principal.tenant_id, flow_id, offer_id=body.offer_id, months=body.months
    )
    return FlowRead.from_row(flow, datetime.now(UTC))


@router.post(
    "/v1/cancellation-flows/{flow_id}/decline",
    response_model=FlowRead,
    responses=responses(401, 403, 404, 409, 422),
    summary="Decline the offers: record the customer's cancellation",
    description="Records a `cancellation` with the flow's reason and comment, effective now or "
    "at `effective_at`. Declining again returns the flow unchanged; 409 when the flow was "
    "accepted or abandoned.",
)
async def decline_cancellation_flow(
    flow_id: uuid.UUID,
    principal: EventsWriter,
    session: Session,
    body: FlowDecline | None = None,
) -> FlowRead:
    flow = await service.decline_flow(
        session,
        principal.tenant_id,
        flow_id,
        effective_at=body.effective_at if body is not None else None,
    )
    return FlowRead.from_row(flow, datetime.now(UTC))
