"""Chargebee webhooks: the tenant's basic-auth credentials, and turning an authenticated event
into Holdfast events on the ingest path."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import InvalidInput
from app.integrations import service as integrations
from app.integrations.chargebee import repository
from app.integrations.chargebee.mapping import map_event
from app.integrations.common import MappingError
from app.integrations.errors import BadRequest, InvalidCredentials
from app.models import ChargebeeEndpoint

logger = logging.getLogger("holdfast.integrations.chargebee")

WEBHOOK_PATH = "/v1/integrations/chargebee/webhook/{tenant_id}"
PASSWORD_BYTES = 24
# Compared against when the tenant is unknown or has no credentials, so the answer (and the
# work done) is the same as for a wrong password.
_DECOY = ("holdfast", hashlib.sha256(secrets.token_bytes(32)).hexdigest())


def webhook_url(base_url: str, tenant_id: uuid.UUID) -> str:
    return base_url.rstrip("/") + WEBHOOK_PATH.format(tenant_id=tenant_id)


def _digest(password: str) -> str:
    return hashlib.sha256(password.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class Connected:
    row: ChargebeeEndpoint
    password: str


async def configure(session: AsyncSession, tenant_id: uuid.UUID, username: str) -> Connected:
    """New credentials for the tenant (replacing any earlier ones): a random password, shown
    once; only its SHA-256 is stored."""
    password = secrets.token_urlsafe(PASSWORD_BYTES)
    row = await repository.upsert_endpoint(
        session, tenant_id, username, _digest(password), datetime.now(UTC)
    )
    return Connected(row, password)


async def get_endpoint(session: AsyncSession, tenant_id: uuid.UUID) -> ChargebeeEndpoint | None:
    return await repository.get_endpoint(session, tenant_id)


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """``(user, password)`` of an ``Authorization: Basic ...`` header, or None."""
    if not header:
        return None
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


def authenticate(header: str | None, username: str, password_sha256: str) -> None:
    """Raise InvalidCredentials unless ``header`` carries this user and password; both are
    compared in constant time, and both always."""
    given = basic_credentials(header) or ("", "")
    user_ok = hmac.compare_digest(given[0].encode("utf-8", "surrogatepass"), username.encode())
    password_ok = hmac.compare_digest(_digest(given[1]), password_sha256)
    if not (user_ok and password_ok):
        raise InvalidCredentials(
            "The Authorization header is missing or does not carry this endpoint's credentials."
        )


@dataclass(frozen=True)
class WebhookResult:
    event_id: str | None
    event_type: str | None
    recorded: list[integrations.RecordedPayload]


def _tenant(raw: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(raw)
    except ValueError:
        return None


def _text(value: Any) -> str | None:
    return value[:200] if isinstance(value, str) else None


async def receive_webhook(
    session: AsyncSession, raw_tenant_id: str, body: bytes, authorization: str | None
) -> WebhookResult:
    """Authenticate, map and ingest one Chargebee event. Unknown tenant, no credentials
    configured, missing or wrong credentials: all the same 400, and nothing is stored."""
    tenant_id = _tenant(raw_tenant_id)
    endpoint = await repository.get_endpoint(session, tenant_id) if tenant_id else None
    if tenant_id is None or endpoint is None:
        authenticate(authorization, *_DECOY)
        raise InvalidCredentials("No Chargebee endpoint is configured here.")  # never reached
    authenticate(authorization, endpoint.username, endpoint.password_sha256)
    try:
        event = json.loads(body)
    except ValueError:
        raise BadRequest("The body is not a Chargebee event.") from None
    if not isinstance(event, dict):
        raise BadRequest("The body is not a Chargebee event.")
    event_id, event_type = _text(event.get("id")), _text(event.get("event_type"))
    label = f"The Chargebee event {event_id}"
    try:
        mapped = map_event(event)
    except MappingError as exc:
        raise InvalidInput(
            f"{label} cannot be mapped; see errors.", errors=[exc.issue(("body",))]
        ) from None
    if not mapped.handled:
        logger.info(
            "chargebee event type not mapped; ignored",
            extra={"chargebee_event_id": event_id, "chargebee_event_type": event_type},
        )
        return WebhookResult(event_id, event_type, [])
    recorded = await integrations.ingest_mapped(
        session, tenant_id, mapped.payloads, source="chargebee", label=label
    )
    return WebhookResult(event_id, event_type, recorded)
