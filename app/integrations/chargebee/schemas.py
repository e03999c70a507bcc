from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from app.inputs import RequestModel
from app.integrations.schemas import RECEIPT_STATUS_DESCRIPTION, ReceiptStatus, RecordedEvent

# Printable ASCII without ':' (it separates user and password in HTTP Basic auth).
Username = Annotated[
    str,
    StringConstraints(min_length=1, max_length=100, pattern=r"^[\x21-\x39\x3b-\x7e]+$"),
    Field(description="The user name to enter in Chargebee's webhook basic authentication."),
]


class ChargebeeSettingsIn(RequestModel):
    username: Username = "holdfast"


class ChargebeeSettings(BaseModel):
    webhook_url: str = Field(description="Paste this into Chargebee as the webhook URL.")
    username: str | None = Field(description="The basic-auth user name; null until connected.")
    credentials_set: bool
    updated_at: datetime | None = None


class ChargebeeCredentials(ChargebeeSettings):
    password: str = Field(
        description="The basic-auth password Holdfast generated. Shown once: enter it in "
        "Chargebee now (connecting again issues a new one)."
    )


class ChargebeeWebhookReceipt(BaseModel):
    received: bool = True
    chargebee_event_id: str | None
    chargebee_event_type: str | None
    status: ReceiptStatus = Field(description=RECEIPT_STATUS_DESCRIPTION)
    events: list[RecordedEvent]
