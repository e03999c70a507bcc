from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Request, Response

from app.db import Session
from app.errors import InvalidInput
from app.events.schemas import ID_PATTERN, MAX_BATCH, BatchItemResult, BatchResult, EventAccepted
from app.inputs import DATE_TIME_SCHEMA
from app.integrations.cloudevents import service
from app.integrations.cloudevents.mapping import (
    BATCH,
    STRUCTURED,
    content_mode,
    from_binary,
    from_structured,
)
from app.integrations.common import MappingError
from app.integrations.errors import BadRequest
from app.mediatypes import UNTYPED_BODY_OK
from app.openapi import ValidationIssue, responses
from app.tenants.auth import EventsWriter

router = APIRouter(prefix="/v1/cloudevents", tags=["integrations"])
T = TypeVar("T")

_ATTRIBUTE = {"type": "string", "minLength": 1, "maxLength": 1024, "pattern": r"^[^\x00]+$"}
_STRUCTURED_SCHEMA = {
    "type": "object",
    "required": ["specversion", "id", "source", "type", "subject", "time"],
    "properties": {
        "specversion": {"type": "string", "enum": ["1.0"]},
        "id": _ATTRIBUTE,
        "source": _ATTRIBUTE,
        "type": {
            **_ATTRIBUTE,
            "pattern": r"^([^\x00]*\.)?(purchase|usage|cancellation|pause|resume|plan_change"
            r"|payment_failed|feedback)$",
            "examples": ["com.example.billing.purchase"],
        },
        "subject": {
            "type": "string",
            "minLength": 1,
            "maxLength": 200,
            "pattern": ID_PATTERN,
            "description": "The customer id.",
        },
        "time": DATE_TIME_SCHEMA,
        "datacontenttype": {"type": "string", "enum": ["application/json"]},
        "data": {"type": "object", "description": "The typed fields of the event type."},
    },
}


def _parse(body: bytes) -> object:
    try:
        return json.loads(body, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise BadRequest("The body is not valid JSON.") from None


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


@router.post(
    "",
    status_code=201,
    response_model=EventAccepted | BatchResult,
    summary="Ingest CloudEvents (binary, structured or batch mode)",
    description="CloudEvents 1.0 over HTTP. Binary mode: `ce-specversion`, `ce-id`, "
    "`ce-source`, `ce-type`, `ce-subject`, `ce-time` headers and the data as a JSON body. "
    f"Structured mode: `Content-Type: {STRUCTURED}`. Batch: `Content-Type: {BATCH}` with a "
    "JSON array of up to 1000 structured events. `subject` is the customer id, the last "
    "segment of `type` the event type (`...purchase`, `...plan_change`), `time` the "
    "occurred_at, `(source, id)` the idempotency key, `data` the typed fields of "
    "`POST /v1/events`. One event: 201 accepted or 200 duplicate; missing or malformed "
    "attributes are a 400, invalid data a 422. A batch answers 200 with a result per event, "
    "like `POST /v1/events/batch`.",
    responses={
        200: {
            "model": EventAccepted | BatchResult,
            "description": "Duplicate (one event), or batch results",
        },
        **responses(400, 401, 403, 415, 422),
    },
    openapi_extra={
        UNTYPED_BODY_OK: True,
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "description": "Binary mode: the event's data; its attributes travel "
                        "in the ce-specversion, ce-id, ce-source, ce-type, ce-subject and "
                        "ce-time headers.",
                    }
                },
                STRUCTURED: {"schema": _STRUCTURED_SCHEMA},
                BATCH: {
                    "schema": {
                        "type": "array",
                        "items": {
                            "description": "A structured CloudEvent (as for "
                            f"{STRUCTURED}); each is validated on its own and an invalid "
                            "one is reported as rejected in the results.",
                        },
                        "minItems": 1,
                        "maxItems": MAX_BATCH,
                    }
                },
            },
        },
    },
)
async def ingest_cloudevents(
    request: Request, response: Response, principal: EventsWriter, session: Session
) -> EventAccepted | BatchResult:
    body = await request.body()
    mode = _guard(lambda: content_mode(request.headers.get("content-type"), request.headers))
    if mode == "batch":
        results = await service.receive_batch(session, principal.tenant_id, _batch(body))
        response.status_code = 200
        return _batch_result(results)
    ce = _guard(
        lambda: (
            from_binary(request.headers, body)
            if mode == "binary"
            else from_structured(_parse(body))
        )
    )
    recorded = await service.receive_one(session, principal.tenant_id, ce)
    if recorded.status == "duplicate":
        response.status_code = 200
    return EventAccepted(id=recorded.id, status=recorded.status)


def _guard(parse: Callable[[], T]) -> T:
    try:
        return parse()
    except MappingError as exc:
        raise BadRequest(f"Not a usable CloudEvent: {exc.msg}", errors=[exc.issue()]) from None


def _batch(body: bytes) -> list[Any]:
    items = _parse(body)
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_BATCH:
        raise InvalidInput(
            f"A batch is a JSON array of 1 to {MAX_BATCH} CloudEvents.",
            errors=[
                {"loc": ["body"], "msg": "must be an array of 1-1000 events", "type": "value_error"}
            ],
        )
    return items


def _batch_result(results: list[service.ItemResult]) -> BatchResult:
    return BatchResult(
        accepted=sum(r.status == "accepted" for r in results),
        duplicates=sum(r.status == "duplicate" for r in results),
        rejected=sum(r.status == "rejected" for r in results),
        results=[
            BatchItemResult(
                index=r.index,
                status=r.status,
                id=r.id,
                errors=[ValidationIssue.model_validate(e) for e in r.errors]
                if r.errors is not None
                else None,
            )
            for r in results
        ],
    )
