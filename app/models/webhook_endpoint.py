from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ARRAY, ForeignKey, String, func, true
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class WebhookEndpoint(Base):
    """A URL of the tenant's that receives the outbound events it subscribes to.

    Deleting an endpoint only marks it (``deleted_at``) so that its delivery log stays
    readable in the database; a deleted endpoint is invisible through the API.
    """

    __tablename__ = "webhook_endpoints"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    url: Mapped[str] = mapped_column(String(2048))
    event_types: Mapped[list[str]] = mapped_column(ARRAY(String(64)))
    # The Standard Webhooks signing secret (``whsec_`` + base64 of the HMAC key). Unlike an API
    # key it cannot be stored as a hash: signing needs the key itself. It is a secret the tenant
    # verifies our requests with, not a credential that grants access to Holdfast; it is shown
    # once, at creation or rotation, and wiped when the endpoint is deleted.
    secret: Mapped[str | None] = mapped_column(String(100))
    # During a rotation the replaced secret still signs (a second signature in the header) until
    # it expires, so receivers can switch without losing a delivery.
    previous_secret: Mapped[str | None] = mapped_column(String(100))
    previous_secret_expires_at: Mapped[datetime | None]
    description: Mapped[str | None] = mapped_column(String(500))
    active: Mapped[bool] = mapped_column(server_default=true())
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())
    deleted_at: Mapped[datetime | None]
