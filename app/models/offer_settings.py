from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, func
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class OfferSettings(Base):
    """A tenant's cancellation-flow settings; no row means the defaults.

    ``holdout_share_bp``: share of customers (basis points, 1000 = 10%) whose flows get no offer,
    the control group that shows what offers are worth. ``keep_days``: how long a customer who
    accepted an offer must stay subscribed for the flow to count as a save.
    """

    __tablename__ = "offer_settings"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    holdout_share_bp: Mapped[int] = mapped_column(Integer, server_default="0")
    keep_days: Mapped[int] = mapped_column(Integer, server_default="30")
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())

    __table_args__ = (
        CheckConstraint("holdout_share_bp BETWEEN 0 AND 2000", name="holdout_share_bp_range"),
        CheckConstraint("keep_days BETWEEN 1 AND 365", name="keep_days_range"),
    )
