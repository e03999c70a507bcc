"""OpenAPI helpers: every operation declares the problem responses it can return."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from pydantic.json_schema import models_json_schema

from app.problems import PROBLEM_MEDIA_TYPE


class ValidationIssue(BaseModel):
    loc: list[str | int] = Field(description="Path to the offending field.")
    msg: str
    type: str


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[ValidationIssue] | None = None


_DESCRIPTIONS = {
    400: "Malformed request",
    401: "Missing, malformed, unknown or revoked API key",
    403: "The API key lacks the required scope",
    404: "Not found in this tenant",
    409: "Conflicts with the current state",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Invalid request",
    429: "Rate limit exceeded",
    503: "Database unavailable; retry after the Retry-After delay",
}

# Every operation can meet these: an unreachable database, an oversized body, a flood.
ALWAYS = (413, 429, 503)


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the problem statuses an operation can return."""
    out: dict[int | str, dict[str, Any]] = {}
    for code in sorted({*codes, *ALWAYS}):
        out[code] = {
            "description": _DESCRIPTIONS.get(code, "Error"),
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        if code in _HEADERS:
            out[code]["headers"] = _HEADERS[code]
    return out


def _integer_header(description: str) -> dict[str, Any]:
    return {"description": description, "required": True, "schema": {"type": "integer"}}


_RETRY_AFTER = _integer_header("Seconds to wait before retrying.")
_HEADERS: dict[int, dict[str, Any]] = {
    429: {
        "Retry-After": _RETRY_AFTER,
        "RateLimit-Limit": _integer_header("Requests the API key may send at once."),
        "RateLimit-Remaining": _integer_header("Requests left right now (0 here)."),
        "RateLimit-Reset": _integer_header("Seconds until the full allowance is back."),
    },
    503: {"Retry-After": _RETRY_AFTER},
}


def json_body(component: str) -> dict[str, Any]:
    """``openapi_extra`` for an endpoint that parses its own JSON body (to keep valid items of a
    batch, or to validate item by item) while documenting the body's schema."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{component}"}}
            },
        }
    }


def component_schemas(*models: type[BaseModel]) -> dict[str, Any]:
    """JSON schemas of ``models`` and everything they reference, as OpenAPI components."""
    _, top = models_json_schema(
        [(model, "validation") for model in models],
        ref_template="#/components/schemas/{model}",
    )
    return dict(top.get("$defs", {}))


def declare_media_type_errors(schema: dict[str, Any]) -> None:
    """Every operation that takes a body can answer 415 (app.mediatypes); say so once here."""
    problem = responses(415)[415]
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            if isinstance(operation, dict) and "requestBody" in operation:
                operation.setdefault("responses", {}).setdefault("415", problem)
