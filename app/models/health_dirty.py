from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class HealthDirty(Base):
    """Customers whose materialised health score is older than their newest events.

    Written in the ingest transaction, deleted by the scorer that materialises the score
    (``app.health.freshness``). ``marked_at`` is when the oldest unscored change was stored: the
    lag a drain reports is measured from it.
    """

    __tablename__ = "health_dirty"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    customer_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    marked_at: Mapped[datetime]
