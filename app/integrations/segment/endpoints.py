from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from app.db import Session
from app.integrations.errors import BadRequest
from app.integrations.segment import service
from app.integrations.segment.auth import key_from_body, key_from_header, segment_principal
from app.integrations.segment.body import decompress, parse_object
from app.integrations.segment.mapping import MAX_BATCH_BYTES
from app.integrations.segment.schemas import (
    MessageIssue,
    SegmentAck,
    SegmentMapping,
    SegmentMappings,
    SegmentMappingsIn,
)
from app.openapi import ValidationIssue, responses
from app.tenants.auth import Admin, Principal

# Segment bounds a batch by size (500 KB); this bounds the count too (no real message is
# smaller than about 100 bytes).
MAX_BATCH_MESSAGES = 5000

# Segment's clients post to <host>/v1/batch: configured with host <holdfast>/segment they reach
# these routes unchanged.
tracking = APIRouter(prefix="/segment/v1", tags=["segment"])
settings = APIRouter(prefix="/v1/integrations/segment", tags=["integrations"])

_MESSAGE = {
    "type": "object",
    "description": "A Segment message (type, userId, event, properties, traits, messageId, "
    "timestamp, ...); writeKey may carry the API key.",
}
_AUTH = (
    " Authenticate as Segment does: HTTP Basic with a Holdfast API key (events:write) as user "
    "name and an empty password, or `writeKey` in the body. `Content-Encoding: gzip` is "
    "accepted; the decompressed body may be up to 500 KB, each message up to 32 KB."
)
_TRACKING_ERRORS = responses(400, 401, 403, 415)


# analytics.js posts its JSON as text/plain from browsers (a "simple" request: no CORS preflight).
_AS_TEXT = {
    "schema": {
        "type": "string",
        "contentMediaType": "application/json",
        "maxLength": MAX_BATCH_BYTES,
        "description": "The same JSON object as text, as analytics.js sends it from browsers.",
    }
}


def _body_schema(schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": schema}, "text/plain": _AS_TEXT},
        }
    }


async def _authorized_body(request: Request, session: Session) -> tuple[Principal, dict[str, Any]]:
    authorization = request.headers.get("authorization")
    principal = (
        await segment_principal(session, key_from_header(authorization)) if authorization else None
    )
    raw = await request.body()
    body = parse_object(decompress(raw, request.headers.get("content-encoding"), MAX_BATCH_BYTES))
    body_key = key_from_body(body)
    if principal is None:
        principal = await segment_principal(session, body_key)
    return principal, body


def _ack(result: service.SegmentResult) -> SegmentAck:
    return SegmentAck(
        accepted=result.accepted,
        duplicates=result.duplicates,
        ignored=result.ignored,
        rejected=len(result.rejected),
        errors=[
            MessageIssue(
                index=r.index,
                message_id=r.message_id,
                errors=[ValidationIssue.model_validate(e) for e in r.errors],
            )
            for r in result.rejected
        ],
    )


@tracking.post(
    "/batch",
    response_model=SegmentAck,
    summary="Segment batch",
    description="Segment's `POST /v1/batch`: `{batch: [messages], sentAt?, writeKey?}`. "
    "Answers 200 `{success: true}` when the request is well-formed and authorized; each "
    "message is recorded or skipped on its own (skipped ones are listed in `errors`)." + _AUTH,
    responses=_TRACKING_ERRORS,
    openapi_extra=_body_schema(
        {
            "type": "object",
            "required": ["batch"],
            "properties": {
                "batch": {"type": "array", "items": _MESSAGE, "maxItems": MAX_BATCH_MESSAGES},
                "sentAt": {
                    "description": "When the client sent the batch (ISO 8601); corrects "
                    "originalTimestamp for the client's clock. An unusable value is ignored."
                },
                "writeKey": {"type": "string", "maxLength": 200},
            },
        }
    ),
)
async def segment_batch(request: Request, session: Session) -> SegmentAck:
    principal, body = await _authorized_body(request, session)
    batch = body.get("batch")
    if not isinstance(batch, list):
        raise BadRequest("The body needs a `batch` array of messages.")
    if len(batch) > MAX_BATCH_MESSAGES:
        raise BadRequest(f"A batch holds at most {MAX_BATCH_MESSAGES} messages.")
    result = await service.receive(session, principal.tenant_id, batch, sent_at=body.get("sentAt"))
    return _ack(result)


@tracking.post(
    "/track",
    response_model=SegmentAck,
    summary="Segment track",
    description="Segment's `POST /v1/track`: one track message. A message that cannot be "
    "recorded is a 400." + _AUTH,
    responses=_TRACKING_ERRORS,
    openapi_extra=_body_schema(_MESSAGE),
)
async def segment_track(request: Request, session: Session) -> SegmentAck:
    principal, body = await _authorized_body(request, session)
    return _ack(await service.receive(session, principal.tenant_id, [body], kind="track"))


@tracking.post(
    "/identify",
    response_model=SegmentAck,
    summary="Segment identify",
    description="Segment's `POST /v1/identify`: merges `traits` into the customer named by "
    "`userId` (created as a lead when new). A message that cannot be recorded is a 400." + _AUTH,
    responses=_TRACKING_ERRORS,
    openapi_extra=_body_schema(_MESSAGE),
)
async def segment_identify(request: Request, session: Session) -> SegmentAck:
    principal, body = await _authorized_body(request, session)
    return _ack(await service.receive(session, principal.tenant_id, [body], kind="identify"))


def _mappings(views: list[service.MappingView]) -> SegmentMappings:
    return SegmentMappings(
        mappings=[SegmentMapping.model_validate(v, from_attributes=True) for v in views]
    )


@settings.get(
    "/mappings",
    response_model=SegmentMappings,
    summary="Segment track mappings",
    description="Which event type each Segment track name becomes: the defaults, overridden by "
    "this tenant's own. Any other name becomes `usage` with `feature` = the name.",
    responses=responses(401, 403),
)
async def get_segment_mappings(principal: Admin, session: Session) -> SegmentMappings:
    return _mappings(await service.list_mappings(session, principal.tenant_id))


@settings.put(
    "/mappings",
    response_model=SegmentMappings,
    summary="Set the tenant's Segment track mappings",
    description="Replaces this tenant's custom mappings with the given set (an empty list "
    "restores the defaults). `ignore` drops a track.",
    responses=responses(400, 401, 403, 422),
)
async def set_segment_mappings(
    body: SegmentMappingsIn, principal: Admin, session: Session
) -> SegmentMappings:
    views = await service.replace_mappings(
        session, principal.tenant_id, {m.event_name: m.event_type for m in body.mappings}
    )
    return _mappings(views)
