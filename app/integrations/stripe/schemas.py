from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.inputs import RequestModel
from app.integrations.schemas import RecordedEvent

WebhookSecret = Annotated[
    str,
    StringConstraints(min_length=7, max_length=255, pattern=r"^whsec_[\x21-\x7e]+$"),
    Field(
        description="The endpoint's signing secret from the Stripe dashboard (whsec_...).",
        examples=["whsec_..."],
    ),
]


class StripeSettingsIn(RequestModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    webhook_secret: WebhookSecret


class StripeSettings(BaseModel):
    webhook_url: str = Field(description="Paste this into Stripe as the endpoint URL.")
    secret_set: bool = Field(description="Whether a signing secret is stored (never shown).")
    updated_at: datetime | None = None


class StripeWebhookReceipt(BaseModel):
    received: bool = True
    stripe_event_id: str | None
    stripe_event_type: str | None
    status: Literal["recorded", "duplicate", "ignored"] = Field(
        description="recorded: at least one event was new; duplicate: all had been recorded "
        "(a redelivery); ignored: the type is not mapped or there was nothing to record."
    )
    events: list[RecordedEvent]
