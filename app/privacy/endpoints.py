from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app import cursors
from app.customers.endpoints import CustomerIdPath
from app.db import Session
from app.ids import ID_PATTERN
from app.openapi import responses
from app.privacy import service
from app.privacy.schemas import (
    AuditActionName,
    AuditEntryRead,
    AuditPage,
    CustomerErased,
    CustomerExport,
)
from app.tenants.auth import Admin

router = APIRouter(tags=["privacy"])


@router.get(
    "/v1/customers/{customer_id}/export",
    response_model=CustomerExport,
    responses=responses(401, 403, 404, 422),
    summary="Export everything stored about a customer (GDPR access)",
)
async def export_customer(
    customer_id: CustomerIdPath, principal: Admin, session: Session
) -> CustomerExport:
    export = await service.export_customer(
        session, principal.tenant_id, customer_id, actor_key_id=principal.key_id
    )
    return CustomerExport(
        customer_id=export.customer_id, exported_at=export.exported_at, tables=export.tables
    )


@router.delete(
    "/v1/customers/{customer_id}",
    response_model=CustomerErased,
    responses=responses(401, 403, 404, 422),
    summary="Erase a customer: state, events, history and everything else stored (GDPR)",
    description="Deletes, in one transaction, the customer's rows in every table that holds "
    "data about customers, and outbound webhook deliveries naming it; metrics recompute without "
    "it. Recorded in the audit log without the erased data. Events sent later for the same id "
    "create a new customer.",
)
async def erase_customer(
    customer_id: CustomerIdPath, principal: Admin, session: Session
) -> CustomerErased:
    erasure = await service.erase_customer(
        session, principal.tenant_id, customer_id, actor_key_id=principal.key_id
    )
    return CustomerErased(
        customer_id=erasure.customer_id,
        erased_at=erasure.erased_at,
        rows=erasure.rows,
        audit_id=erasure.audit_id,
    )


@router.get(
    "/v1/audit-log",
    response_model=AuditPage,
    responses=responses(401, 403, 422),
    summary="The tenant's audit log (exports and erasures), newest first",
)
async def list_audit_log(
    principal: Admin,
    session: Session,
    action: Annotated[AuditActionName | None, Query()] = None,
    customer_id: Annotated[
        str | None,
        Query(min_length=1, max_length=200, pattern=ID_PATTERN, description="Entries about it."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, cursors.TIME_ID_QUERY] = None,
) -> AuditPage:
    entries, next_cursor = await service.list_audit_entries(
        session,
        principal.tenant_id,
        action=action,
        customer_id=customer_id,
        cursor=cursor,
        limit=limit,
    )
    return AuditPage(
        items=[AuditEntryRead.model_validate(entry) for entry in entries], next_cursor=next_cursor
    )
