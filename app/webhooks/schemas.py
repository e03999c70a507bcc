from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AliasChoices, BaseModel, ConfigDict, Field, StringConstraints

from app.inputs import RequestModel, omitted_not_null
from app.webhooks import events, urls

DeliveryStatus = Literal["pending", "delivered", "failed", "cancelled"]


def _known_event_type(value: str) -> str:
    if not events.is_subscribable(value):
        known = ", ".join(sorted(events.EVENT_TYPES))
        raise ValueError(f"unknown event type; known: {known}, or '{events.WILDCARD}' for all")
    return value


def _valid_url(value: str) -> str:
    urls.parse_webhook_url(value)
    return value


EventType = Annotated[
    str,
    StringConstraints(min_length=1, max_length=events.MAX_TYPE_LENGTH),
    AfterValidator(_known_event_type),
    Field(json_schema_extra={"enum": [events.WILDCARD, *events.EVENT_TYPES]}),
]
WebhookUrl = Annotated[
    str,
    StringConstraints(min_length=1, max_length=urls.MAX_URL_LENGTH, pattern=urls.URL_PATTERN),
    AfterValidator(_valid_url),
]
Description = Annotated[str, StringConstraints(max_length=500, pattern=r"^[^\x00]*$")]
EventTypes = Annotated[
    list[EventType],
    Field(
        min_length=1,
        max_length=50,
        description=f"Event types to receive; '{events.WILDCARD}' subscribes to every type.",
    ),
]


class WebhookCreate(RequestModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    url: WebhookUrl = Field(description="http(s) URL that receives POSTed events.")
    event_types: EventTypes
    description: Description | None = None


class WebhookUpdate(RequestModel):
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra=omitted_not_null("url", "event_types", "active"),
    )

    url: WebhookUrl | None = None
    event_types: EventTypes | None = None
    description: Description | None = None
    active: bool | None = Field(
        default=None,
        description="An inactive endpoint receives no new events; deliveries already queued "
        "for it wait and are sent once it is active again.",
    )


class WebhookRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    url: str
    event_types: list[str]
    description: str | None
    active: bool
    created_at: datetime
    updated_at: datetime
    rotation_ends_at: datetime | None = Field(
        default=None,
        validation_alias=AliasChoices("rotation_ends_at", "previous_secret_expires_at"),
        description="During a secret rotation: until when the replaced secret still signs "
        "(each delivery then carries two signatures).",
    )


class WebhookCreated(WebhookRead):
    secret: str = Field(
        description="The Standard Webhooks signing secret (whsec_ + base64 key) of the "
        "webhook-signature header. Shown once: store it now."
    )


MAX_ROTATION_OVERLAP_S = 7 * 86400


class SecretRotation(RequestModel):
    previous_secret_valid_for_s: int = Field(
        default=86400,
        ge=0,
        le=MAX_ROTATION_OVERLAP_S,
        strict=True,
        description="How long the replaced secret keeps signing beside the new one (seconds; "
        "0 retires it at once). Default one day, at most seven.",
    )


class WebhookSecretRotated(WebhookCreated):
    """The endpoint after rotation, with its new secret (shown once)."""


class WebhookList(BaseModel):
    items: list[WebhookRead]


class DeliveryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    endpoint_id: uuid.UUID
    event_id: uuid.UUID = Field(description="Same for every endpoint receiving the event.")
    event_type: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    payload: dict[str, Any] = Field(description="The event envelope, as sent.")


class DeliveryList(BaseModel):
    items: list[DeliveryRead]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next (older) page.")
