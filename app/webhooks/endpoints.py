from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from app import cursors
from app.db import Session
from app.openapi import responses
from app.tenants.auth import Admin
from app.webhooks import service
from app.webhooks.schemas import (
    DeliveryList,
    DeliveryRead,
    DeliveryStatus,
    SecretRotation,
    WebhookCreate,
    WebhookCreated,
    WebhookList,
    WebhookRead,
    WebhookSecretRotated,
    WebhookUpdate,
)

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


def _allow_private(request: Request) -> bool:
    allowed: bool = request.app.state.settings.allow_private_webhook_urls
    return allowed


@router.post(
    "",
    status_code=201,
    response_model=WebhookCreated,
    responses=responses(401, 403, 409, 422),
    summary="Register a webhook endpoint (its signing secret is shown once)",
)
async def create_webhook(
    body: WebhookCreate, principal: Admin, session: Session, request: Request
) -> WebhookCreated:
    created = await service.create_endpoint(
        session,
        principal.tenant_id,
        url=body.url,
        event_types=body.event_types,
        description=body.description,
        allow_private=_allow_private(request),
    )
    read = WebhookRead.model_validate(created.row)
    return WebhookCreated(**read.model_dump(), secret=created.secret)


@router.get(
    "",
    response_model=WebhookList,
    responses=responses(401, 403),
    summary="List the tenant's webhook endpoints (never their secrets)",
)
async def list_webhooks(principal: Admin, session: Session) -> WebhookList:
    rows = await service.list_endpoints(session, principal.tenant_id)
    return WebhookList(items=[WebhookRead.model_validate(row) for row in rows])


@router.get(
    "/{webhook_id}",
    response_model=WebhookRead,
    responses=responses(401, 403, 404, 422),
    summary="Get a webhook endpoint",
)
async def get_webhook(webhook_id: uuid.UUID, principal: Admin, session: Session) -> WebhookRead:
    row = await service.get_endpoint(session, principal.tenant_id, webhook_id)
    return WebhookRead.model_validate(row)


@router.patch(
    "/{webhook_id}",
    response_model=WebhookRead,
    responses=responses(401, 403, 404, 422),
    summary="Change a webhook endpoint's URL, event types, description or active flag",
)
async def update_webhook(
    webhook_id: uuid.UUID,
    body: WebhookUpdate,
    principal: Admin,
    session: Session,
    request: Request,
) -> WebhookRead:
    row = await service.update_endpoint(
        session,
        principal.tenant_id,
        webhook_id,
        body.model_dump(exclude_unset=True),
        allow_private=_allow_private(request),
    )
    return WebhookRead.model_validate(row)


@router.delete(
    "/{webhook_id}",
    status_code=204,
    responses=responses(401, 403, 404, 422),
    summary="Delete a webhook endpoint and cancel its pending deliveries",
)
async def delete_webhook(webhook_id: uuid.UUID, principal: Admin, session: Session) -> Response:
    await service.delete_endpoint(session, principal.tenant_id, webhook_id)
    return Response(status_code=204)


@router.get(
    "/{webhook_id}/deliveries",
    response_model=DeliveryList,
    responses=responses(401, 403, 404, 422),
    summary="The endpoint's delivery log, newest first",
)
async def list_webhook_deliveries(
    webhook_id: uuid.UUID,
    principal: Admin,
    session: Session,
    status: Annotated[DeliveryStatus | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, cursors.TIME_ID_QUERY] = None,
) -> DeliveryList:
    rows, next_cursor = await service.list_deliveries(
        session, principal.tenant_id, webhook_id, status=status, limit=limit, cursor=cursor
    )
    return DeliveryList(
        items=[DeliveryRead.model_validate(row) for row in rows], next_cursor=next_cursor
    )


@router.post(
    "/{webhook_id}/test",
    status_code=202,
    response_model=DeliveryRead,
    responses=responses(401, 403, 404, 422),
    summary="Queue a webhook.test event for this endpoint",
)
async def send_test_webhook(
    webhook_id: uuid.UUID, principal: Admin, session: Session
) -> DeliveryRead:
    row = await service.send_test_event(session, principal.tenant_id, webhook_id)
    return DeliveryRead.model_validate(row)


@router.post(
    "/{webhook_id}/rotate-secret",
    response_model=WebhookSecretRotated,
    responses=responses(401, 403, 404, 422),
    summary="Rotate the endpoint's signing secret (the new one is shown once)",
    description="Issues a new secret. The previous one keeps signing beside it for "
    "`previous_secret_valid_for_s` (default one day): each delivery carries both signatures in "
    "`webhook-signature`, so a receiver can switch secrets without a failed delivery.",
)
async def rotate_webhook_secret(
    webhook_id: uuid.UUID,
    principal: Admin,
    session: Session,
    body: SecretRotation | None = None,
) -> WebhookSecretRotated:
    valid_for = (body or SecretRotation()).previous_secret_valid_for_s
    rotated = await service.rotate_secret(
        session, principal.tenant_id, webhook_id, timedelta(seconds=valid_for)
    )
    read = WebhookRead.model_validate(rotated.row)
    return WebhookSecretRotated(**read.model_dump(), secret=rotated.secret)
