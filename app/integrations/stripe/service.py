"""Stripe billing webhooks: the tenant's endpoint secret, and turning a signed Stripe event into
Holdfast events on the ingest path."""

from __future__ import annotations

import logging
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

import stripe
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import InvalidInput
from app.integrations import service as integrations
from app.integrations.common import MappingError
from app.integrations.errors import BadRequest, InvalidSignature
from app.integrations.stripe import repository
from app.integrations.stripe.mapping import map_event
from app.models import StripeEndpoint

logger = logging.getLogger("holdfast.integrations.stripe")

TOLERANCE_S = 300
WEBHOOK_PATH = "/v1/integrations/stripe/webhook/{tenant_id}"
# Verifying against a throwaway secret when the tenant is unknown or has none keeps the answer
# (and the work done) the same as for a wrong signature: the URL does not reveal which tenants
# exist.
_DECOY_SECRET = "whsec_" + secrets.token_hex(24)


def webhook_url(base_url: str, tenant_id: uuid.UUID) -> str:
    return base_url.rstrip("/") + WEBHOOK_PATH.format(tenant_id=tenant_id)


async def configure(
    session: AsyncSession, tenant_id: uuid.UUID, webhook_secret: str
) -> StripeEndpoint:
    return await repository.upsert_endpoint(session, tenant_id, webhook_secret)


async def get_endpoint(session: AsyncSession, tenant_id: uuid.UUID) -> StripeEndpoint | None:
    return await repository.get_endpoint(session, tenant_id)


@dataclass(frozen=True)
class RecordedStripeEvent:
    payload: dict[str, Any]
    result: integrations.Recorded


@dataclass(frozen=True)
class WebhookResult:
    stripe_event_id: str | None
    stripe_event_type: str | None
    handled: bool
    recorded: list[RecordedStripeEvent]


def _tenant(raw: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(raw)
    except ValueError:
        return None


def verify(body: bytes, signature: str | None, secret: str) -> dict[str, Any]:
    """The Stripe event in ``body`` after checking ``Stripe-Signature`` with the official library
    (HMAC-SHA256 over the raw body, timestamp within 300 s)."""
    try:
        event = stripe.Webhook.construct_event(body, signature, secret, tolerance=TOLERANCE_S)
    except stripe.SignatureVerificationError:
        raise InvalidSignature(
            "The Stripe-Signature header is missing or does not match this endpoint's secret."
        ) from None
    except UnicodeDecodeError:
        # The library decodes the body before checking it: not something Stripe sends.
        raise InvalidSignature(
            "The body is not UTF-8, so it cannot be a signed Stripe event."
        ) from None
    except (ValueError, TypeError, AttributeError, KeyError):
        raise BadRequest("The signed body is not a Stripe event.") from None
    data = event.to_dict()
    if not isinstance(data, dict):
        raise BadRequest("The signed body is not a Stripe event.")
    return data


async def receive_webhook(
    session: AsyncSession, raw_tenant_id: str, body: bytes, signature: str | None
) -> WebhookResult:
    """Verify, map and ingest one Stripe event. Unknown tenant, no secret configured, missing or
    wrong signature: all the same 400, and nothing is stored."""
    tenant_id = _tenant(raw_tenant_id)
    endpoint = await repository.get_endpoint(session, tenant_id) if tenant_id else None
    if tenant_id is None or endpoint is None:
        verify(body, signature, _DECOY_SECRET)
        raise InvalidSignature("No Stripe endpoint is configured here.")  # never reached
    event = verify(body, signature, endpoint.webhook_secret)
    event_id = event.get("id") if isinstance(event.get("id"), str) else None
    event_type = event.get("type") if isinstance(event.get("type"), str) else None

    try:
        mapped = map_event(event)
    except MappingError as exc:
        raise InvalidInput(
            f"The Stripe event {event_id} cannot be mapped; see errors.",
            errors=[exc.issue(("body",))],
        ) from None
    if not mapped.handled:
        logger.info(
            "stripe event type not mapped; ignored",
            extra={"stripe_event_id": event_id, "stripe_event_type": event_type},
        )
        return WebhookResult(event_id, event_type, handled=False, recorded=[])

    recorded = await integrations.ingest_mapped(
        session, tenant_id, mapped.payloads, source="stripe", label=f"The Stripe event {event_id}"
    )
    return WebhookResult(
        event_id,
        event_type,
        handled=True,
        recorded=[RecordedStripeEvent(r.payload, r.result) for r in recorded],
    )
