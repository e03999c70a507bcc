from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path, Request

from app.db import Session
from app.integrations import service as integrations
from app.integrations.paddle import service
from app.integrations.paddle.schemas import (
    PaddleSettings,
    PaddleSettingsIn,
    PaddleWebhookReceipt,
)
from app.integrations.schemas import recorded_events
from app.openapi import responses
from app.tenants.auth import Admin

router = APIRouter(prefix="/v1/integrations/paddle", tags=["integrations"])


def _base_url(request: Request) -> str:
    public_url: str | None = request.app.state.settings.public_url
    return public_url or str(request.base_url)


@router.put(
    "",
    response_model=PaddleSettings,
    summary="Connect Paddle Billing: store the notification destination's secret key",
    description="Stores the secret key of a Paddle notification destination (replacing any "
    "earlier one) and answers with the `webhook_url` to give that destination in Paddle. The "
    "secret is never returned.",
    responses=responses(400, 401, 403, 422),
)
async def configure_paddle(
    body: PaddleSettingsIn, request: Request, principal: Admin, session: Session
) -> PaddleSettings:
    endpoint = await service.configure(session, principal.tenant_id, body.webhook_secret)
    return PaddleSettings(
        webhook_url=service.webhook_url(_base_url(request), principal.tenant_id),
        secret_set=True,
        updated_at=endpoint.updated_at,
    )


@router.get(
    "",
    response_model=PaddleSettings,
    summary="Paddle connection: webhook URL and whether a secret key is set",
    responses=responses(401, 403),
)
async def get_paddle_settings(
    request: Request, principal: Admin, session: Session
) -> PaddleSettings:
    endpoint = await service.get_endpoint(session, principal.tenant_id)
    return PaddleSettings(
        webhook_url=service.webhook_url(_base_url(request), principal.tenant_id),
        secret_set=endpoint is not None,
        updated_at=endpoint.updated_at if endpoint else None,
    )


@router.post(
    "/webhook/{tenant_id}",
    response_model=PaddleWebhookReceipt,
    summary="Receive a Paddle Billing notification",
    description="Called by Paddle, not by you. The path names the tenant; the "
    "`Paddle-Signature` header (checked with Paddle's SDK against the destination's secret "
    "key, at most 300 s old) authenticates. An unknown tenant, a tenant without a secret and "
    "a missing, stale or wrong signature all get the same 400 and nothing is stored. Mapped "
    "events are ingested like `POST /v1/events` with idempotency keys "
    "`paddle:<event_id>:<suffix>`: redeliveries are duplicates. Unmapped types are answered "
    "200 with status `ignored`. A notification that cannot be mapped is a 422 (Paddle retries "
    "it).",
    responses=responses(400, 422),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"type": "object", "description": "A Paddle notification."}
                }
            },
        }
    },
)
async def receive_paddle_webhook(
    tenant_id: Annotated[str, Path(max_length=64)],
    request: Request,
    session: Session,
    paddle_signature: Annotated[str | None, Header(max_length=4096)] = None,
) -> PaddleWebhookReceipt:
    body = await request.body()
    result = await service.receive_webhook(session, tenant_id, body, paddle_signature)
    return PaddleWebhookReceipt(
        paddle_event_id=result.event_id,
        paddle_event_type=result.event_type,
        status=integrations.receipt_status(result.recorded),
        events=recorded_events(result.recorded),
    )
