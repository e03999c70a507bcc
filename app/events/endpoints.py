from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from pydantic_core import to_json

from app import cursors
from app.db import Session
from app.errors import IdempotencyConflict, InvalidInput
from app.events import service, timeline
from app.events.schemas import (
    EVENT_ADAPTER,
    MAX_BATCH,
    BatchItemResult,
    BatchResult,
    Event,
    EventAccepted,
    EventPage,
    EventRead,
)
from app.ids import ID_PATTERN
from app.models import EVENT_TYPES
from app.openapi import ValidationIssue, json_body, responses
from app.problems import validation_errors
from app.tenants.auth import EventsWriter, Reader

router = APIRouter(prefix="/v1/events", tags=["events"])
customer_events_router = APIRouter(prefix="/v1/customers", tags=["customers"])

CustomerIdPath = Annotated[str, Path(min_length=1, max_length=200, pattern=ID_PATTERN)]
EventType = Literal[
    "purchase",
    "usage",
    "cancellation",
    "pause",
    "resume",
    "plan_change",
    "payment_failed",
    "feedback",
]


# Pydantic reports a field of a tagged union under the tag ("purchase", "amount"): the tag is
# not a field of the body, so it is dropped from the paths clients see ("amount").
_TAGS = frozenset(EVENT_TYPES)


def _issues(
    errors: Iterable[Mapping[str, Any]], prefix: tuple[str | int, ...]
) -> list[dict[str, Any]]:
    issues = validation_errors(errors)
    for issue in issues:
        loc = issue["loc"]
        if loc and isinstance(loc[0], str) and loc[0] in _TAGS:
            loc = loc[1:]
        issue["loc"] = [*prefix, *loc]
    return issues


def _pydantic_errors(exc: ValidationError) -> list[Any]:
    return exc.errors(include_url=False, include_input=False)


def parse_event(body: bytes) -> Event:
    """One event from the raw body, parsed and validated in one pass; 422 with field paths."""
    try:
        return EVENT_ADAPTER.validate_json(body)
    except ValidationError as exc:
        raise InvalidInput(
            "The event is invalid; see errors.", errors=_issues(_pydantic_errors(exc), ("body",))
        ) from None


class _Batch(BaseModel):
    # Strict like every request model (app.inputs); each event applies its own rules.
    model_config = ConfigDict(extra="forbid", strict=True)
    events: list[Event] = Field(min_length=1, max_length=MAX_BATCH)


_BATCH_ADAPTER: TypeAdapter[_Batch] = TypeAdapter(_Batch)
_ANY_JSON: TypeAdapter[Any] = TypeAdapter(Any)


def parse_batch(body: bytes) -> list[Event | list[dict[str, Any]]]:
    """Each item of a batch: the event, or its errors (paths from the body down).

    The whole body is parsed and validated in one pass. Only when some item fails are the
    valid ones validated again, each on its own, to keep them (a batch's items are kept or
    rejected one by one). A fault of the envelope (not an object, no events, too many, an
    unknown field) rejects the whole body.
    """
    try:
        return list(_BATCH_ADAPTER.validate_json(body).events)
    except ValidationError as exc:
        errors = _pydantic_errors(exc)
    per_item: dict[int, list[dict[str, Any]]] = {}
    envelope = []
    for error in errors:
        loc = error["loc"]
        if len(loc) >= 2 and loc[0] == "events" and isinstance(loc[1], int):
            per_item.setdefault(loc[1], []).append(error)
        else:
            envelope.append(error)
    if envelope:
        raise InvalidInput("The batch is invalid; see errors.", errors=_issues(envelope, ("body",)))
    items = _ANY_JSON.validate_json(body)["events"]
    out: list[Event | list[dict[str, Any]]] = []
    for index, item in enumerate(items):
        if index in per_item:
            out.append(
                _issues(
                    [{**e, "loc": e["loc"][2:]} for e in per_item[index]],
                    ("body", "events", index),
                )
            )
        else:
            out.append(EVENT_ADAPTER.validate_json(to_json(item)))
    return out


@router.post(
    "",
    status_code=201,
    response_model=EventAccepted,
    summary="Ingest one event",
    description="201 with the new event's id, or 200 with the original id when its "
    "idempotency key was seen with the same content. The same key with different content is a "
    "422 of type idempotency-conflict.",
    responses={
        200: {"model": EventAccepted, "description": "Duplicate"},
        **responses(401, 403, 422),
    },
    openapi_extra=json_body("EventIn"),
)
async def ingest_event(
    request: Request, response: Response, principal: EventsWriter, session: Session
) -> EventAccepted:
    event = parse_event(await request.body())
    outcome = (await service.ingest(session, principal.tenant_id, [event])).outcomes[0]
    if outcome.status == "invalid":
        raise InvalidInput(
            "The event is invalid; see errors.",
            errors=_issues(outcome.errors, ("body",)),
        )
    if outcome.status == "conflict":
        raise IdempotencyConflict(
            "This idempotency_key was already used for an event with different content.",
            errors=[
                {
                    "loc": ["body", "idempotency_key"],
                    "msg": "already used for different content",
                    "type": "idempotency_conflict",
                }
            ],
            extra={"event_id": str(outcome.id)},
        )
    if outcome.status == "duplicate":
        response.status_code = 200
        return EventAccepted(id=outcome.id, status="duplicate")
    return EventAccepted(id=outcome.id, status="accepted")


@router.post(
    "/batch",
    response_model=BatchResult,
    summary="Ingest up to 1000 events",
    description="Each item is validated and stored on its own: valid items are kept even when "
    "others are rejected. Results list every item's index, status (accepted, duplicate, "
    "rejected) and errors. A key repeated inside the batch: the first wins, the rest are "
    "duplicates (same content) or rejected (different content).",
    responses=responses(401, 403, 422),
    openapi_extra=json_body("EventBatchIn"),
)
async def ingest_event_batch(
    request: Request, principal: EventsWriter, session: Session
) -> BatchResult:
    items = parse_batch(await request.body())
    results: list[BatchItemResult | None] = [None] * len(items)
    valid: list[tuple[int, Event]] = []
    for index, item in enumerate(items):
        if isinstance(item, list):
            results[index] = _rejected(index, item)
        else:
            valid.append((index, item))

    ingested = await service.ingest(session, principal.tenant_id, [event for _, event in valid])
    for (index, _), outcome in zip(valid, ingested.outcomes, strict=True):
        if outcome.status == "invalid":
            results[index] = _rejected(index, _issues(outcome.errors, ("body", "events", index)))
        elif outcome.status == "conflict":
            results[index] = _rejected(
                index,
                [
                    {
                        "loc": ["body", "events", index, "idempotency_key"],
                        "msg": f"already used for different content (event {outcome.id})",
                        "type": "idempotency_conflict",
                    }
                ],
            )
        else:
            # Trusted values: no validation needed to build the result.
            results[index] = BatchItemResult.model_construct(
                index=index, status=outcome.status, id=outcome.id
            )

    final = [r for r in results if r is not None]
    return BatchResult(
        accepted=sum(r.status == "accepted" for r in final),
        duplicates=sum(r.status == "duplicate" for r in final),
        rejected=sum(r.status == "rejected" for r in final),
        results=final,
    )


def _rejected(index: int, issues: list[dict[str, Any]]) -> BatchItemResult:
    return BatchItemResult(
        index=index,
        status="rejected",
        errors=[ValidationIssue.model_validate(issue) for issue in issues],
    )


@customer_events_router.get(
    "/{customer_id}/events",
    response_model=EventPage,
    responses=responses(401, 403, 404, 422),
    summary="A customer's event timeline, newest first",
)
async def list_customer_events(
    customer_id: CustomerIdPath,
    principal: Reader,
    session: Session,
    type: Annotated[list[EventType] | None, Query(description="Only these types.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, cursors.TIME_ID_QUERY] = None,
) -> EventPage:
    events, next_cursor = await timeline.list_customer_events(
        session, principal.tenant_id, customer_id, types=type, cursor=cursor, limit=limit
    )
    return EventPage(items=[EventRead.model_validate(e) for e in events], next_cursor=next_cursor)
