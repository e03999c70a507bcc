from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import ConfigDict, Field, ValidationError

from app.db import Session
from app.errors import IdempotencyConflict, InvalidInput
from app.events import service
from app.events.schemas import (
    EVENT_ADAPTER,
    MAX_BATCH,
    BatchItemResult,
    BatchResult,
    Event,
    EventAccepted,
)
from app.inputs import RequestModel
from app.openapi import ValidationIssue, json_body, responses
from app.problems import validation_errors
from app.tenants.auth import EventsWriter

router = APIRouter(prefix="/v1/events", tags=["events"])


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


async def read_json(request: Request) -> Any:
    """The request body as JSON; a 422 problem (never a 500) for anything unparsable."""
    body = await request.body()
    try:
        return json.loads(body, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        detail = str(exc) if isinstance(exc, ValueError) else "nested too deeply"
        raise InvalidInput(
            "The request body is not valid JSON.",
            errors=[{"loc": ["body"], "msg": f"Invalid JSON: {detail}", "type": "json_invalid"}],
        ) from None


def _issues(exc: ValidationError, prefix: tuple[str | int, ...] = ()) -> list[dict[str, Any]]:
    issues = validation_errors(exc.errors(include_url=False, include_input=False))
    for issue in issues:
        issue["loc"] = [*prefix, *issue["loc"]]
    return issues


def parse_event(payload: Any) -> Event:
    try:
        return EVENT_ADAPTER.validate_python(payload)
    except ValidationError as exc:
        raise InvalidInput(
            "The event is invalid; see errors.", errors=_issues(exc, ("body",))
        ) from None


class _Envelope(RequestModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    events: list[Any] = Field(min_length=1, max_length=MAX_BATCH)


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
    event = parse_event(await read_json(request))
    outcome = (await service.ingest(session, principal.tenant_id, [event])).outcomes[0]
    if outcome.status == "invalid":
        raise InvalidInput(
            "The event is invalid; see errors.",
            errors=[{**e, "loc": ["body", *e["loc"]]} for e in outcome.errors],
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
    try:
        envelope = _Envelope.model_validate(await read_json(request))
    except ValidationError as exc:
        raise InvalidInput(
            "The batch is invalid; see errors.", errors=_issues(exc, ("body",))
        ) from None

    results: list[BatchItemResult | None] = [None] * len(envelope.events)
    valid: list[tuple[int, Event]] = []
    for index, item in enumerate(envelope.events):
        try:
            valid.append((index, EVENT_ADAPTER.validate_python(item)))
        except ValidationError as exc:
            results[index] = _rejected(index, _issues(exc))

    ingested = await service.ingest(session, principal.tenant_id, [event for _, event in valid])
    for (index, _), outcome in zip(valid, ingested.outcomes, strict=True):
        if outcome.status == "invalid":
            results[index] = _rejected(index, list(outcome.errors))
        elif outcome.status == "conflict":
            results[index] = _rejected(
                index,
                [
                    {
                        "loc": ["idempotency_key"],
                        "msg": f"already used for different content (event {outcome.id})",
                        "type": "idempotency_conflict",
                    }
                ],
            )
        else:
            results[index] = BatchItemResult(index=index, status=outcome.status, id=outcome.id)

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
