"""Rendering of every error as ``application/problem+json`` (RFC 9457).

One place decides what a client sees: domain errors keep their status, validation errors list
``[{loc, msg}]``, an unreachable or overloaded database is a 503 with ``Retry-After``, and
anything unexpected is a 500 whose body says nothing about the internals.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.errors import PROBLEM_BASE, HoldfastError

logger = logging.getLogger("holdfast.errors")

PROBLEM_MEDIA_TYPE = "application/problem+json"

_HTTP_TITLES = {
    400: "Bad request",
    401: "Missing or invalid API key",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Invalid request",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service temporarily unavailable",
}

_HTTP_SLUGS = {
    404: "not-found",
    405: "method-not-allowed",
    413: "payload-too-large",
    415: "unsupported-media-type",
}

# SQLSTATE classes and codes that mean "the database cannot serve right now", not "your request
# is wrong": connection exceptions, resources, operator intervention (shutdown), timeouts,
# serialization failures and deadlocks that survived the service's own retries.
_UNAVAILABLE_SQLSTATE_PREFIXES = ("08", "53", "57P")
_UNAVAILABLE_SQLSTATES = {"57014", "40001", "40P01", "55P03"}


def problem_response(
    status: int,
    *,
    title: str | None = None,
    detail: str | None = None,
    slug: str | None = None,
    errors: Sequence[Mapping[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
    instance: str | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + slug if slug else "about:blank",
        "title": title or _HTTP_TITLES.get(status, "Error"),
        "status": status,
        "detail": detail or title or _HTTP_TITLES.get(status, "Error"),
    }
    if instance:
        body["instance"] = instance
    if errors is not None:
        body["errors"] = list(errors)
    if extra:
        body.update(extra)
    return JSONResponse(
        body, status_code=status, headers=dict(headers or {}), media_type=PROBLEM_MEDIA_TYPE
    )


def _sqlstate(exc: BaseException) -> str | None:
    for candidate in _exception_chain(exc):
        code = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if isinstance(code, str):
            return code
    return None


def _exception_chain(exc: BaseException) -> Iterable[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        orig = getattr(current, "orig", None)
        current = (
            orig if isinstance(orig, BaseException) else (current.__cause__ or current.__context__)
        )


def is_database_unavailable(exc: BaseException) -> bool:
    """True when ``exc`` says the database is unreachable, overloaded, shutting down or timed
    out: a condition to retry later (503), not a bug (500)."""
    sqlstate = _sqlstate(exc)
    if sqlstate is not None:
        return sqlstate in _UNAVAILABLE_SQLSTATES or sqlstate.startswith(
            _UNAVAILABLE_SQLSTATE_PREFIXES
        )
    for candidate in _exception_chain(exc):
        if isinstance(candidate, sa_exc.DBAPIError) and candidate.connection_invalidated:
            return True
        if isinstance(
            candidate,
            OSError
            | TimeoutError
            | asyncio.TimeoutError
            | sa_exc.TimeoutError
            | sa_exc.InterfaceError
            | sa_exc.DisconnectionError,
        ):
            return True
        if type(candidate).__module__.startswith("asyncpg") and type(candidate).__name__ in {
            "ConnectionDoesNotExistError",
            "InterfaceError",
            "InternalClientError",
            "CannotConnectNowError",
            "ConnectionFailureError",
        }:
            return True
    return False


def unavailable_response(request: Request) -> JSONResponse:
    retry_after = str(request.app.state.settings.retry_after_s)
    return problem_response(
        503,
        slug="service-unavailable",
        title="Service temporarily unavailable",
        detail="The database is not reachable right now; retry after the indicated delay.",
        headers={"Retry-After": retry_after},
    )


def internal_error_response() -> JSONResponse:
    return problem_response(
        500,
        slug="internal-error",
        detail="An unexpected error occurred. It has been logged with this request's id.",
    )


async def _holdfast_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HoldfastError)
    headers = dict(exc.headers)
    if exc.status == 503:
        headers.setdefault("Retry-After", str(request.app.state.settings.retry_after_s))
    # The documented issue shape is {loc, msg, type}: a service that forgot ``type`` must not
    # make the response break the API's own schema.
    errors = (
        [{"type": "value_error", **issue} for issue in exc.errors]
        if exc.errors is not None
        else None
    )
    return problem_response(
        exc.status,
        title=exc.title,
        detail=exc.detail,
        slug=exc.slug,
        errors=errors,
        headers=headers,
        extra=exc.extra,
    )


def validation_errors(raw: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Pydantic error dicts reduced to what a client needs; never echoes the input back."""
    return [
        {
            "loc": [part for part in error.get("loc", ())],
            "msg": error.get("msg", "invalid"),
            "type": error.get("type", "value_error"),
        }
        for error in raw
    ]


async def _request_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return problem_response(
        422,
        slug="validation-error",
        title="Invalid request",
        detail="The request does not match the expected shape; see errors.",
        errors=validation_errors(exc.errors()),
    )


async def _http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if isinstance(exc.__cause__, HoldfastError):
        # FastAPI wraps errors raised while reading the body (our body limit) in a 400.
        return await _holdfast_error(request, exc.__cause__)
    status = exc.status_code
    detail = exc.detail if isinstance(exc.detail, str) else None
    if status == 400 and exc.__cause__ is not None:
        # FastAPI's "error parsing the body" (e.g. bytes that are not UTF-8): an invalid body,
        # reported like every other one.
        return problem_response(
            422,
            slug="validation-error",
            title="Invalid request",
            detail="The request body could not be parsed.",
            errors=[
                {"loc": ["body"], "msg": "Body is not valid JSON text", "type": "json_invalid"}
            ],
        )
    headers = dict(exc.headers or {})
    if status == 405:
        headers["Allow"] = ", ".join(allowed_methods(request))
    return problem_response(status, slug=_HTTP_SLUGS.get(status), detail=detail, headers=headers)


def allowed_methods(request: Request) -> list[str]:
    """The methods the API documents for this path (Starlette's own 405 names only the first
    route it tried)."""
    app = request.app
    table: list[tuple[re.Pattern[str], list[str]]] | None = getattr(app.state, "allow_table", None)
    if table is None:
        table = [
            (
                re.compile("^" + re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(path)) + "$"),
                [method.upper() for method in operations],
            )
            for path, operations in app.openapi().get("paths", {}).items()
        ]
        app.state.allow_table = table
    path = request.url.path
    return sorted(
        {method for pattern, methods in table if pattern.match(path) for method in methods}
    )


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    if is_database_unavailable(exc):
        logger.warning("database unavailable: %s", type(exc).__name__)
        return unavailable_response(request)
    logger.error("unexpected database error", exc_info=exc)
    return internal_error_response()


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(HoldfastError, _holdfast_error)
    app.add_exception_handler(RequestValidationError, _request_validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    for exc_type in (sa_exc.DBAPIError, sa_exc.TimeoutError, OSError, TimeoutError):
        app.add_exception_handler(exc_type, _database_error)
