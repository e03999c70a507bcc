"""Webhook signatures (pure): what Holdfast sends and what a receiver checks.

``X-Holdfast-Signature: t=<unix seconds>,v1=<hex>`` where
``v1 = hex(HMAC-SHA256(key=secret as UTF-8, msg=f"{t}.".encode() + body))``. Signing the
timestamp with the body lets a receiver refuse replays of an old delivery; the ``v1`` label
leaves room for another scheme later, and a header may carry several ``v1`` values (a receiver
accepts the request when any of them matches).
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-Holdfast-Signature"
SCHEME = "v1"
DEFAULT_TOLERANCE_S = 300


def compute(secret: str, body: bytes, timestamp: int) -> str:
    """``hex(HMAC-SHA256(secret, f"{timestamp}." + body))``."""
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The header value for ``body`` sent at ``timestamp``: ``t=<timestamp>,v1=<hex>``."""
    return f"t={timestamp},{SCHEME}={compute(secret, body, timestamp)}"


def parse(header: str) -> tuple[int, list[str]] | None:
    """``(timestamp, [v1 signatures])`` from a header value, or None when it is malformed.
    Unknown schemes are ignored so that adding one does not break existing receivers."""
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            return None
        if key == "t":
            if (
                timestamp is not None
                or not (value.isascii() and value.isdigit())
                or len(value) > 12
            ):
                return None
            timestamp = int(value)
        elif key == SCHEME:
            signatures.append(value)
    if timestamp is None or not signatures:
        return None
    return timestamp, signatures


def verify(
    secret: str,
    body: bytes,
    header: str,
    *,
    now: int | None = None,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
) -> bool:
    """True when ``header`` carries a ``v1`` signature of ``body`` under ``secret`` and its
    timestamp is within ``tolerance_s`` seconds of ``now`` (default: the clock). Comparison is
    constant-time."""
    parsed = parse(header)
    if parsed is None:
        return False
    timestamp, signatures = parsed
    current = int(time.time()) if now is None else now
    if abs(current - timestamp) > tolerance_s:
        return False
    expected = compute(secret, body, timestamp)
    # Every candidate is compared (no early exit) so timing says nothing about which matched.
    matched = False
    for candidate in signatures:
        matched |= hmac.compare_digest(expected.encode(), candidate.encode())
    return matched
