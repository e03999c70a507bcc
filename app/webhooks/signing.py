"""Outbound webhook signatures per the Standard Webhooks specification (pure).

Three headers go with every delivery:

* ``webhook-id``: the event id (the same on every retry and for every endpoint, so receivers
  deduplicate on it);
* ``webhook-timestamp``: unix seconds when this attempt was signed;
* ``webhook-signature``: space-separated ``v1,<base64 HMAC-SHA256>`` values, one per valid
  secret, over ``f"{webhook-id}.{webhook-timestamp}.".encode() + body``.

A secret is ``whsec_`` followed by the standard base64 of the HMAC key (32 random bytes for
new secrets). While a secret is being rotated the previous one still signs, so the header
carries two signatures and a receiver holding either secret accepts the request. Receivers
verify with any Standard Webhooks library (``standardwebhooks``, ``svix``) in any language;
Holdfast's tests do exactly that rather than check our output with our own code.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from datetime import datetime

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
SECRET_PREFIX = "whsec_"  # noqa: S105  (a label, not a secret)
KEY_BYTES = 32
VERSION = "v1"


def new_secret() -> str:
    """A fresh secret: ``whsec_`` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()


def key_of(secret: str) -> bytes:
    """The HMAC key a secret spells. Raises ValueError for anything that is not ``whsec_`` +
    standard base64."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("a signing secret starts with whsec_")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a signing secret is whsec_ followed by base64") from None
    if not key:
        raise ValueError("a signing secret may not be empty")
    return key


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,<base64>`` signature of ``body`` sent as ``msg_id`` at ``timestamp``."""
    message = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(key_of(secret), message, hashlib.sha256).digest()
    return f"{VERSION},{base64.b64encode(digest).decode()}"


def valid_secrets(
    current: str, previous: str | None, previous_expires_at: datetime | None, now: datetime
) -> list[str]:
    """The secrets that sign at ``now``: the current one, and the previous one until it
    expires (it stops signing at ``previous_expires_at`` exactly)."""
    out = [current]
    if previous and previous_expires_at is not None and now < previous_expires_at:
        out.append(previous)
    return out


def headers(
    signing_secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """The three Standard Webhooks headers for ``body``, one signature per secret."""
    if not signing_secrets:
        raise ValueError("at least one secret signs")
    return {
        ID_HEADER: msg_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: " ".join(sign(s, msg_id, timestamp, body) for s in signing_secrets),
    }
