"""Paddle Billing notifications: the tenant's destination secret, and turning a signed
notification into Holdfast events on the ingest path."""

from __future__ import annotations

import json
import logging
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import InvalidInput
from app.integrations import service as integrations
from app.integrations.common import MappingError
from app.integrations.errors import BadRequest, InvalidSignature
from app.integrations.paddle import repository
from app.integrations.paddle.mapping import map_event
from app.models import PaddleEndpoint

logger = logging.getLogger("holdfast.integrations.paddle")
# The SDK logs every failed verification at CRITICAL: anyone can post a bad signature, so that
# would let strangers page the operator. Holdfast answers 400 and that is the whole story.
logging.getLogger("paddle_billing").propagate = False

# Paddle signs each delivery attempt afresh; its SDK's default window is 5 s, which a queue in
# front of Holdfast or a slow clock can exceed. Stripe's 300 s is used for both.
TOLERANCE_S = 300
WEBHOOK_PATH = "/v1/integrations/paddle/webhook/{tenant_id}"
SIGNATURE_HEADER = "Paddle-Signature"
# Checked against a throwaway secret when the tenant is unknown or has none, so the answer (and
# the work done) is the same as for a wrong signature.
_DECOY_SECRET = "pdl_ntfset_decoy_" + secrets.token_hex(24)


def webhook_url(base_url: str, tenant_id: uuid.UUID) -> str:
    return base_url.rstrip("/") + WEBHOOK_PATH.format(tenant_id=tenant_id)


async def configure(
    session: AsyncSession, tenant_id: uuid.UUID, webhook_secret: str
) -> PaddleEndpoint:
    return await repository.upsert_endpoint(session, tenant_id, webhook_secret, datetime.now(UTC))


async def get_endpoint(session: AsyncSession, tenant_id: uuid.UUID) -> PaddleEndpoint | None:
    return await repository.get_endpoint(session, tenant_id)


@dataclass(frozen=True)
class WebhookResult:
    event_id: str | None
    event_type: str | None
    recorded: list[integrations.RecordedPayload]


class _SignedRequest:
    """What the SDK's Verifier reads of a request: its headers and raw body."""

    def __init__(self, body: bytes, signature: str | None) -> None:
        self.body = body
        self.headers = {SIGNATURE_HEADER: signature} if signature else {}


def _tenant(raw: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(raw)
    except ValueError:
        return None


def verify(
    body: bytes, signature: str | None, secret: str, *, tolerance_s: int = TOLERANCE_S
) -> dict[str, Any]:
    """The notification in ``body`` after checking ``Paddle-Signature`` with Paddle's SDK
    (HMAC-SHA256 of ``ts:body``, at most ``tolerance_s`` old)."""
    # Imported on first use: the SDK's package loads its whole API client (requests and all
    # resources, seconds on a busy machine), which every CLI command would otherwise pay.
    from paddle_billing.Notifications import PaddleSignature, Secret, Verifier

    try:
        ok = Verifier(maximum_variance=tolerance_s).verify(
            _SignedRequest(body, signature), Secret(secret)
        )
        # The SDK skips its age check when the environment has TEST_MODE set, and never
        # refuses a timestamp from the future: both bounds are checked here as well.
        if ok and signature is not None:
            signed_at, _ = PaddleSignature.parse(signature)
            ok = abs(time.time() - signed_at) <= tolerance_s
    except (ValueError, TypeError, ConnectionRefusedError):
        # A malformed header (the SDK's parser raises) or a body that is not UTF-8.
        ok = False
    if not ok:
        raise InvalidSignature(
            "The Paddle-Signature header is missing, too old or does not match this "
            "destination's secret key."
        )
    try:
        notification = json.loads(body)
    except ValueError:
        raise BadRequest("The signed body is not a Paddle notification.") from None
    if not isinstance(notification, dict):
        raise BadRequest("The signed body is not a Paddle notification.")
    return notification


def _text(value: Any) -> str | None:
    return value[:200] if isinstance(value, str) else None


async def receive_webhook(
    session: AsyncSession, raw_tenant_id: str, body: bytes, signature: str | None
) -> WebhookResult:
    """Verify, map and ingest one Paddle notification. Unknown tenant, no secret configured,
    missing, stale or wrong signature: all the same 400, and nothing is stored."""
    tenant_id = _tenant(raw_tenant_id)
    endpoint = await repository.get_endpoint(session, tenant_id) if tenant_id else None
    if tenant_id is None or endpoint is None:
        verify(body, signature, _DECOY_SECRET)
        raise InvalidSignature("No Paddle destination is configured here.")  # never reached
    notification = verify(body, signature, endpoint.webhook_secret)
    event_id, event_type = (
        _text(notification.get("event_id")),
        _text(notification.get("event_type")),
    )
    label = f"The Paddle event {event_id}"
    try:
        mapped = map_event(notification)
    except MappingError as exc:
        raise InvalidInput(
            f"{label} cannot be mapped; see errors.", errors=[exc.issue(("body",))]
        ) from None
    if not mapped.handled:
        logger.info(
            "paddle event type not mapped; ignored",
            extra={"paddle_event_id": event_id, "paddle_event_type": event_type},
        )
        return WebhookResult(event_id, event_type, [])
    recorded = await integrations.ingest_mapped(
        session, tenant_id, mapped.payloads, source="paddle", label=label
    )
    return WebhookResult(event_id, event_type, recorded)
