"""Response shapes every billing-system webhook shares."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from app.integrations.service import RecordedPayload

ReceiptStatus = Literal["recorded", "duplicate", "ignored"]
RECEIPT_STATUS_DESCRIPTION = (
    "recorded: at least one event was new; duplicate: all had been recorded (a redelivery); "
    "ignored: the type is not mapped or there was nothing to record."
)


class RecordedEvent(BaseModel):
    id: uuid.UUID
    type: str
    idempotency_key: str
    status: Literal["accepted", "duplicate"]


def recorded_events(recorded: Sequence[RecordedPayload]) -> list[RecordedEvent]:
    return [
        RecordedEvent(
            id=r.result.id,
            type=r.payload["type"],
            idempotency_key=r.payload["idempotency_key"],
            status=r.result.status,
        )
        for r in recorded
    ]


class SecretSettings(BaseModel):
    webhook_url: str = Field(description="Paste this into the billing system as the URL.")
    secret_set: bool = Field(description="Whether a signing secret is stored (never shown).")
    updated_at: datetime | None = None
