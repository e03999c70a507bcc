from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from app.inputs import RequestModel
from app.integrations.schemas import (
    RECEIPT_STATUS_DESCRIPTION,
    ReceiptStatus,
    RecordedEvent,
    SecretSettings,
)

PaddleSecret = Annotated[
    str,
    StringConstraints(min_length=12, max_length=255, pattern=r"^pdl_ntfset_[\x21-\x7e]+$"),
    Field(
        description="The secret key of the notification destination in Paddle "
        "(Developer tools > Notifications; pdl_ntfset_...).",
        examples=["pdl_ntfset_..."],
    ),
]


class PaddleSettingsIn(RequestModel):
    webhook_secret: PaddleSecret


class PaddleSettings(SecretSettings):
    pass


class PaddleWebhookReceipt(BaseModel):
    received: bool = True
    paddle_event_id: str | None
    paddle_event_type: str | None
    status: ReceiptStatus = Field(description=RECEIPT_STATUS_DESCRIPTION)
    events: list[RecordedEvent]
