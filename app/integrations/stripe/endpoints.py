from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path, Request

from app.db import Session
from app.integrations.schemas import RecordedEvent
from app.integrations.stripe import service
from app.integrations.stripe.schemas import (
    StripeSettings,
    StripeSettingsIn,
    StripeWebhookReceipt,
)
from app.openapi import responses
from app.tenants.auth import Admin

router = APIRouter(prefix="/v1/integrations/stripe", tags=["integrations"])


def _base_url(request: Request) -> str:
    public_url: str | None = request.app.state.settings.public_url
    return public_url or str(request.base_url)


@router.put(
    "",
    response_model=StripeSettings,
    summary="Connect Stripe: store the webhook signing secret",
    description="Stores the signing secret of a Stripe webhook endpoint (replacing any earlier "
    "one) and answers with the `webhook_url` to give that endpoint in Stripe. The secret is "
    "never returned.",
    responses=responses(400, 401, 403, 422),
)
async def configure_stripe(
    body: StripeSettingsIn, request: Request, principal: Admin, session: Session
) -> StripeSettings:
    endpoint = await service.configure(session, principal.tenant_id, body.webhook_secret)
    return StripeSettings(
        webhook_url=service.webhook_url(_base_url(request), principal.tenant_id),
        secret_set=True,
        updated_at=endpoint.updated_at,
    )


@router.get(
    "",
    response_model=StripeSettings,
    summary="Stripe connection: webhook URL and whether a secret is set",
    responses=responses(401, 403),
)
async def get_stripe_settings(
    request: Request, principal: Admin, session: Session
) -> StripeSettings:
    endpoint = await service.get_endpoint(session, principal.tenant_id)
    return StripeSettings(
        webhook_url=service.webhook_url(_base_url(request), principal.tenant_id),
        secret_set=endpoint is not None,
        updated_at=endpoint.updated_at if endpoint else None,
    )


@router.post(
    "/webhook/{tenant_id}",
    response_model=StripeWebhookReceipt,
    summary="Receive a Stripe webhook event",
    description="Called by Stripe, not by you. The path names the tenant; the `Stripe-Signature` "
    "header (HMAC of the raw body with the tenant's endpoint secret, at most 300 s old) "
    "authenticates. An unknown tenant, a tenant without a secret and a missing or wrong "
    "signature all get the same 400 and nothing is stored. Mapped events are ingested like "
    "`POST /v1/events` with idempotency keys `stripe:<event id>:<suffix>`: redeliveries are "
    "duplicates. Unmapped types are answered 200 with status `ignored`. An event that cannot "
    "be mapped is a 422 (Stripe retries it).",
    responses=responses(400, 422),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"type": "object", "description": "A Stripe event object."}
                }
            },
        }
    },
)
async def receive_stripe_webhook(
    tenant_id: Annotated[str, Path(max_length=64)],
    request: Request,
    session: Session,
    stripe_signature: Annotated[str | None, Header(max_length=4096)] = None,
) -> StripeWebhookReceipt:
    body = await request.body()
    result = await service.receive_webhook(session, tenant_id, body, stripe_signature)
    events = [
        RecordedEvent(
            id=r.result.id,
            type=r.payload["type"],
            idempotency_key=r.payload["idempotency_key"],
            status=r.result.status,
        )
        for r in result.recorded
    ]
    if not events:
        status = "ignored"
    elif any(e.status == "accepted" for e in events):
        status = "recorded"
    else:
        status = "duplicate"
    return StripeWebhookReceipt(
        stripe_event_id=result.stripe_event_id,
        stripe_event_type=result.stripe_event_type,
        status=status,
        events=events,
    )
