"""Domain exceptions and their one rendering: RFC 9457 ``application/problem+json``.

Services raise these; the handlers in :mod:`app.problems` render them. Nothing here imports
FastAPI, so pure modules and services can raise without knowing about HTTP.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

PROBLEM_BASE = "https://holdfast.dev/problems/"


class HoldfastError(Exception):
    """Base of errors that are the client's business. ``slug`` names the problem type."""

    status: ClassVar[int] = 400
    slug: ClassVar[str] = "bad-request"
    title: ClassVar[str] = "Bad request"

    def __init__(
        self,
        detail: str,
        *,
        errors: Sequence[Mapping[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = list(errors) if errors is not None else None
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})

    @property
    def type_uri(self) -> str:
        return PROBLEM_BASE + self.slug


class Unauthorized(HoldfastError):
    status = 401
    slug = "unauthorized"
    title = "Missing or invalid API key"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="holdfast"'})


class Forbidden(HoldfastError):
    status = 403
    slug = "forbidden"
    title = "API key lacks the required scope"


class NotFound(HoldfastError):
    status = 404
    slug = "not-found"
    title = "Not found"


class Conflict(HoldfastError):
    status = 409
    slug = "conflict"
    title = "Conflict with the current state"


class PayloadTooLarge(HoldfastError):
    status = 413
    slug = "payload-too-large"
    title = "Request body too large"


class InvalidInput(HoldfastError):
    """A payload that parses but breaks a rule; ``errors`` carries ``[{loc, msg}]``."""

    status = 422
    slug = "validation-error"
    title = "Invalid request"


class IdempotencyConflict(HoldfastError):
    status = 422
    slug = "idempotency-conflict"
    title = "Idempotency key reused with different content"


class RateLimited(HoldfastError):
    status = 429
    slug = "rate-limited"
    title = "Too many requests"


class ServiceUnavailable(HoldfastError):
    status = 503
    slug = "service-unavailable"
    title = "Service temporarily unavailable"
