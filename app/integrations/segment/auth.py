"""Segment's way of presenting a key: HTTP Basic with the write key as user name and an empty
password, or a ``writeKey`` field in the body. The write key is a Holdfast API key with the
``events:write`` scope (a Bearer header works too)."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import Forbidden, Unauthorized
from app.integrations.errors import BadRequest
from app.tenants import keys
from app.tenants.auth import Principal, authenticate


def key_from_header(authorization: str | None) -> str | None:
    """The key in an ``Authorization`` header (``Basic base64(key:)`` or ``Bearer key``)."""
    if not authorization:
        return None
    scheme, _, credentials = authorization.strip().partition(" ")
    credentials = credentials.strip()
    if scheme.lower() == "bearer":
        return credentials or None
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return decoded.partition(":")[0] or None


MAX_WRITE_KEY_LENGTH = 200


def key_from_body(body: dict[str, Any]) -> str | None:
    if "writeKey" not in body:
        return None
    value = body["writeKey"]
    if not isinstance(value, str):
        raise BadRequest("writeKey must be a string.")
    if len(value) > MAX_WRITE_KEY_LENGTH:
        raise BadRequest(f"writeKey is longer than {MAX_WRITE_KEY_LENGTH} characters.")
    return value or None


async def segment_principal(session: AsyncSession, key: str | None) -> Principal:
    if key is None:
        raise Unauthorized(
            "Send a Holdfast API key as the Segment write key (HTTP Basic user name, or "
            "writeKey in the body)."
        )
    principal = await authenticate(session, key)
    if not keys.grants(principal.scopes, "events:write"):
        raise Forbidden("The write key needs the 'events:write' scope.")
    return principal
