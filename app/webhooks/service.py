"""Webhook endpoints and the outbox: what goes into the caller's transaction, never a commit.

Features that emit events call :func:`enqueue` inside the transaction that makes the change;
the delivery worker (:mod:`app.webhooks.worker`) sends what was committed.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy.ext.asyncio import AsyncSession

from app import cursors
from app.errors import Conflict, InvalidInput, NotFound
from app.models import WebhookDelivery, WebhookEndpoint
from app.webhooks import events, repository, signing, urls

MAX_ENDPOINTS_PER_TENANT = 50


@dataclass(frozen=True)
class CreatedEndpoint:
    row: WebhookEndpoint
    secret: str


def envelope(
    event_id: uuid.UUID,
    event_type: str,
    created_at: datetime,
    tenant_id: uuid.UUID,
    data: dict[str, Any],
) -> dict[str, Any]:
    """The JSON body every receiver gets; ``data`` is the event type's own fields."""
    return {
        "id": str(event_id),
        "type": event_type,
        "created_at": created_at.astimezone(UTC).isoformat(),
        "tenant_id": str(tenant_id),
        "data": to_jsonable_python(data),
    }


async def enqueue(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    event_type: str,
    data: dict[str, Any],
    *,
    now: datetime | None = None,
) -> uuid.UUID:
    """Queue ``event_type`` for every active endpoint of the tenant subscribed to it, in the
    caller's transaction: the deliveries commit or roll back with the change they announce.
    Returns the event id receivers see (also when no endpoint is subscribed).

    ``data`` may hold datetimes, UUIDs and other values Pydantic can render as JSON.
    """
    if event_type not in events.EVENT_TYPES:
        # A programming error, not a client's: every emitted type is registered in events.py.
        raise ValueError(f"unregistered webhook event type {event_type!r}")
    at = now or datetime.now(UTC)
    event_id = uuid.uuid4()
    payload = envelope(event_id, event_type, at, tenant_id, data)
    await repository.insert_for_subscribers(session, tenant_id, event_id, event_type, payload, at)
    return event_id


async def enqueue_many(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    announcements: Sequence[tuple[str, dict[str, Any]]],
    *,
    now: datetime | None = None,
    event_ids: Sequence[uuid.UUID] | None = None,
) -> list[uuid.UUID]:
    """:func:`enqueue` for many ``(event_type, data)`` at once, in one statement (a rescore of
    a thousand customers announces its tier changes in one round trip, not a thousand).
    ``event_ids``, one per announcement, lets a caller choose the ids (to record them)."""
    for event_type, _ in announcements:
        if event_type not in events.EVENT_TYPES:
            raise ValueError(f"unregistered webhook event type {event_type!r}")
    at = now or datetime.now(UTC)
    if event_ids is not None and len(event_ids) != len(announcements):
        raise ValueError("one event id per announcement")
    ids = list(event_ids) if event_ids is not None else [uuid.uuid4() for _ in announcements]
    rows = []
    for (event_type, data), event_id in zip(announcements, ids, strict=True):
        body = json.dumps(envelope(event_id, event_type, at, tenant_id, data))
        rows.append((event_id, event_type, body))
    await repository.insert_many_for_subscribers(session, tenant_id, rows, at)
    return [row[0] for row in rows]


def _check_url(url: str, allow_private: bool) -> None:
    problem = urls.check_webhook_url(url, allow_private=allow_private)
    if problem is not None:
        raise InvalidInput(f"url {problem}.", errors=[{"loc": ["body", "url"], "msg": problem}])


async def create_endpoint(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    *,
    url: str,
    event_types: Sequence[str],
    description: str | None,
    allow_private: bool,
) -> CreatedEndpoint:
    _check_url(url, allow_private)
    if await repository.count_endpoints(session, tenant_id) >= MAX_ENDPOINTS_PER_TENANT:
        raise Conflict(
            f"A tenant can have at most {MAX_ENDPOINTS_PER_TENANT} webhook endpoints; "
            "delete one first."
        )
    secret = signing.new_secret()
    now = datetime.now(UTC)
    row = WebhookEndpoint(
        tenant_id=tenant_id,
        id=uuid.uuid4(),
        url=url,
        event_types=events.normalize_subscription(event_types),
        secret=secret,
        description=description,
        active=True,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    await session.flush()
    return CreatedEndpoint(row=row, secret=secret)


async def list_endpoints(session: AsyncSession, tenant_id: uuid.UUID) -> Sequence[WebhookEndpoint]:
    return await repository.list_endpoints(session, tenant_id)


async def get_endpoint(
    session: AsyncSession, tenant_id: uuid.UUID, endpoint_id: uuid.UUID, *, for_update: bool = False
) -> WebhookEndpoint:
    row = await repository.get_endpoint(session, tenant_id, endpoint_id, for_update=for_update)
    if row is None:
        raise NotFound(f"No webhook endpoint {endpoint_id} in this tenant.")
    return row


async def update_endpoint(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    endpoint_id: uuid.UUID,
    changes: dict[str, Any],
    *,
    allow_private: bool,
) -> WebhookEndpoint:
    """Apply the fields the client sent; an explicit null is only meaningful for
    ``description`` (it clears it)."""
    row = await get_endpoint(session, tenant_id, endpoint_id, for_update=True)
    for field in ("url", "event_types", "active"):
        if field in changes and changes[field] is None:
            raise InvalidInput(
                f"{field} cannot be null.",
                errors=[{"loc": ["body", field], "msg": "cannot be null"}],
            )
    if "url" in changes:
        _check_url(changes["url"], allow_private)
        row.url = changes["url"]
    if "event_types" in changes:
        row.event_types = events.normalize_subscription(changes["event_types"])
    if "description" in changes:
        row.description = changes["description"]
    if "active" in changes:
        row.active = changes["active"]
    row.updated_at = datetime.now(UTC)
    await session.flush()
    return row


async def delete_endpoint(
    session: AsyncSession, tenant_id: uuid.UUID, endpoint_id: uuid.UUID
) -> None:
    """Hide the endpoint, wipe its secret and cancel its pending deliveries; the delivery log
    stays in the database."""
    row = await get_endpoint(session, tenant_id, endpoint_id, for_update=True)
    now = datetime.now(UTC)
    row.deleted_at = now
    row.updated_at = now
    row.active = False
    row.secret = None
    row.previous_secret = None
    row.previous_secret_expires_at = None
    await session.flush()
    await repository.cancel_pending(session, tenant_id, endpoint_id, "endpoint deleted")


@dataclass(frozen=True)
class RotatedSecret:
    row: WebhookEndpoint
    secret: str


async def rotate_secret(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    endpoint_id: uuid.UUID,
    previous_valid_for: timedelta,
    *,
    now: datetime | None = None,
) -> RotatedSecret:
    """Give the endpoint a new secret; the current one keeps signing beside it (two signatures
    per delivery) for ``previous_valid_for``, then stops. Rotating again within that window
    retires the older secret at once: at most two secrets are ever valid."""
    row = await get_endpoint(session, tenant_id, endpoint_id, for_update=True)
    at = now or datetime.now(UTC)
    secret = signing.new_secret()
    if previous_valid_for > timedelta(0) and row.secret is not None:
        row.previous_secret = row.secret
        row.previous_secret_expires_at = at + previous_valid_for
    else:
        row.previous_secret = None
        row.previous_secret_expires_at = None
    row.secret = secret
    row.updated_at = at
    await session.flush()
    return RotatedSecret(row=row, secret=secret)


async def send_test_event(
    session: AsyncSession, tenant_id: uuid.UUID, endpoint_id: uuid.UUID
) -> WebhookDelivery:
    """Queue a ``webhook.test`` event for this one endpoint, whatever it subscribes to."""
    endpoint = await get_endpoint(session, tenant_id, endpoint_id)
    now = datetime.now(UTC)
    event_id = uuid.uuid4()
    row = WebhookDelivery(
        tenant_id=tenant_id,
        id=uuid.uuid4(),
        endpoint_id=endpoint.id,
        event_id=event_id,
        event_type=events.TEST_EVENT_TYPE,
        payload=envelope(
            event_id,
            events.TEST_EVENT_TYPE,
            now,
            tenant_id,
            {"endpoint_id": endpoint.id, "message": "A test event sent from the Holdfast API."},
        ),
        status="pending",
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
    session.add(row)
    await session.flush()
    return row


def encode_cursor(row: WebhookDelivery) -> str:
    return cursors.encode_time_id(row.created_at, row.id)


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    return cursors.decode_time_id(cursor)


async def list_deliveries(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    endpoint_id: uuid.UUID,
    *,
    status: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[Sequence[WebhookDelivery], str | None]:
    """A page of the endpoint's delivery log, newest first, and the cursor of the next page."""
    before = decode_cursor(cursor) if cursor is not None else None
    await get_endpoint(session, tenant_id, endpoint_id)
    rows = await repository.list_deliveries(
        session, tenant_id, endpoint_id, status=status, limit=limit + 1, before=before
    )
    page = rows[:limit]
    next_cursor = encode_cursor(page[-1]) if len(rows) > limit else None
    return page, next_cursor
