from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String, func
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class PaddleEndpoint(Base):
    """A tenant's Paddle Billing notification destination: its secret key (``pdl_ntfset_...``).

    Stored in clear like the Stripe secret: checking the HMAC of ``Paddle-Signature`` needs the
    key itself. The API never returns it.
    """

    __tablename__ = "paddle_endpoints"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    webhook_secret: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class ChargebeeEndpoint(Base):
    """A tenant's Chargebee webhook credentials (HTTP Basic auth, as Chargebee sends them).

    Holdfast generates the password and shows it once; only its SHA-256 is kept, which is
    enough for a random 192-bit password (nothing to brute-force) and needs no key stretching.
    """

    __tablename__ = "chargebee_endpoints"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    username: Mapped[str] = mapped_column(String(100))
    password_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())
