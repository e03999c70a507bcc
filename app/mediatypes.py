"""415 for a request body in a media type its operation does not take, on every endpoint.

The media types an operation takes are those of its OpenAPI ``requestBody``: ``application/json``
for a FastAPI body parameter, or what an endpoint that reads its raw body declares in
``openapi_extra`` (CloudEvents' own types, for instance), so the document and the check cannot
disagree. One app-wide dependency: it runs after routing (it knows the operation) and before
authentication and body validation, and never reads the body.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request

from app.integrations.errors import UnsupportedMediaType

JSON = "application/json"
# An operation whose ``openapi_extra`` sets this also takes a body without a Content-Type (the
# CloudEvents SDK sends binary-mode JSON data without one).
UNTYPED_BODY_OK = "x-untyped-body-ok"


def accepted_media_types(route: Any) -> frozenset[str]:
    """The media types ``route`` documents for its body; empty when it takes none."""
    declared = (getattr(route, "openapi_extra", None) or {}).get("requestBody", {}).get("content")
    if declared:
        return frozenset(media.lower() for media in declared)
    return frozenset({JSON}) if getattr(route, "body_field", None) is not None else frozenset()


def media_type(content_type: str | None) -> str:
    """``application/json`` of ``Application/JSON; charset=utf-8``; empty when absent."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def _has_body(request: Request) -> bool:
    length = request.headers.get("content-length", "").strip()
    return "transfer-encoding" in request.headers or length not in {"", "0"}


async def require_declared_media_type(request: Request) -> None:
    if request.method not in {"POST", "PUT", "PATCH", "DELETE"} or not _has_body(request):
        return
    route = request.scope.get("route")
    accepted = accepted_media_types(route)
    given = media_type(request.headers.get("content-type"))
    if not given and (getattr(route, "openapi_extra", None) or {}).get(UNTYPED_BODY_OK):
        return
    if accepted and given not in accepted:
        raise UnsupportedMediaType(
            f"Content-Type {given or '(none)'!r} is not accepted here; send "
            + " or ".join(sorted(accepted))
            + "."
        )
