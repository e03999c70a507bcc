"""Errors specific to receiving foreign formats (rendered as problem+json like all others)."""

from __future__ import annotations

from app.errors import HoldfastError


class BadRequest(HoldfastError):
    """A request in a foreign format that lacks what the format requires (Segment, CloudEvents
    answer 400 for these, not 422)."""

    status = 400
    slug = "bad-request"
    title = "Bad request"


class InvalidSignature(HoldfastError):
    status = 400
    slug = "invalid-signature"
    title = "Webhook signature verification failed"


class UnsupportedMediaType(HoldfastError):
    status = 415
    slug = "unsupported-media-type"
    title = "Unsupported media type"


class InvalidCredentials(HoldfastError):
    """Wrong or missing basic-auth credentials on a billing webhook (400, like a bad signature:
    the URL is not an API that invites a login)."""

    status = 400
    slug = "invalid-credentials"
    title = "Webhook credentials rejected"
