from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path, Request

from app.db import Session
from app.integrations import service as integrations
from app.integrations.chargebee import service
from app.integrations.chargebee.schemas import (
    ChargebeeCredentials,
    ChargebeeSettings,
    ChargebeeSettingsIn,
    ChargebeeWebhookReceipt,
)
from app.integrations.schemas import recorded_events
from app.openapi import responses
from app.tenants.auth import Admin

router = APIRouter(prefix="/v1/integrations/chargebee", tags=["integrations"])


def _base_url(request: Request) -> str:
    public_url: str | None = request.app.state.settings.public_url
    return public_url or str(request.base_url)


@router.put(
    "",
    response_model=ChargebeeCredentials,
    summary="Connect Chargebee: issue webhook basic-auth credentials",
    description="Issues basic-auth credentials for Chargebee's webhook (replacing any earlier "
    "ones) and answers with the `webhook_url`, `username` and `password` to enter in Chargebee "
    "(Settings > Configure Chargebee > Webhooks, basic authentication). The password is shown "
    "this once; Holdfast keeps only its hash.",
    responses=responses(400, 401, 403, 422),
)
async def configure_chargebee(
    request: Request, principal: Admin, session: Session, body: ChargebeeSettingsIn | None = None
) -> ChargebeeCredentials:
    connected = await service.configure(
        session, principal.tenant_id, (body or ChargebeeSettingsIn()).username
    )
    return ChargebeeCredentials(
        webhook_url=service.webhook_url(_base_url(request), principal.tenant_id),
        username=connected.row.username,
        credentials_set=True,
        updated_at=connected.row.updated_at,
        password=connected.password,
    )


@router.get(
    "",
    response_model=ChargebeeSettings,
    summary="Chargebee connection: webhook URL and user name (never the password)",
    responses=responses(401, 403),
)
async def get_chargebee_settings(
    request: Request, principal: Admin, session: Session
) -> ChargebeeSettings:
    endpoint = await service.get_endpoint(session, principal.tenant_id)
    return ChargebeeSettings(
        webhook_url=service.webhook_url(_base_url(request), principal.tenant_id),
        username=endpoint.username if endpoint else None,
        credentials_set=endpoint is not None,
        updated_at=endpoint.updated_at if endpoint else None,
    )


@router.post(
    "/webhook/{tenant_id}",
    response_model=ChargebeeWebhookReceipt,
    summary="Receive a Chargebee webhook event",
    description="Called by Chargebee, not by you. The path names the tenant; HTTP Basic auth "
    "with the credentials from `PUT /v1/integrations/chargebee` authenticates. An unknown "
    "tenant, a tenant without credentials and missing or wrong credentials all get the same "
    "400 and nothing is stored. Mapped events are ingested like `POST /v1/events` with "
    "idempotency keys `chargebee:<event id>:<suffix>`: redeliveries are duplicates. Unmapped "
    "types are answered 200 with status `ignored`. An event that cannot be mapped is a 422 "
    "(Chargebee retries it).",
    responses=responses(400, 422),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"type": "object", "description": "A Chargebee event."}
                }
            },
        }
    },
)
async def receive_chargebee_webhook(
    tenant_id: Annotated[str, Path(max_length=64)],
    request: Request,
    session: Session,
    authorization: Annotated[str | None, Header(max_length=1024)] = None,
) -> ChargebeeWebhookReceipt:
    body = await request.body()
    result = await service.receive_webhook(session, tenant_id, body, authorization)
    return ChargebeeWebhookReceipt(
        chargebee_event_id=result.event_id,
        chargebee_event_type=result.event_type,
        status=integrations.receipt_status(result.recorded),
        events=recorded_events(result.recorded),
    )
