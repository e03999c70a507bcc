from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String, func
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class StripeEndpoint(Base):
    """A tenant's Stripe webhook endpoint: the signing secret Stripe shows for it (``whsec_...``).

    Unlike API keys the secret is stored in clear: verifying Stripe's HMAC-SHA256 signature needs
    the secret itself, so a hash would be useless. The API never returns it.
    """

    __tablename__ = "stripe_endpoints"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    webhook_secret: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())
