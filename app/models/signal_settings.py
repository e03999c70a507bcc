from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    ARRAY,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Integer,
    SmallInteger,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class SignalSettings(Base):
    """A tenant's lifecycle-signal settings (see ``app.signals.settings``); no row means the
    defaults. Each signal can be switched off; the checks repeat the API's bounds."""

    __tablename__ = "signal_settings"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    reorder_overdue_enabled: Mapped[bool] = mapped_column(Boolean)
    reorder_overdue_factor: Mapped[float] = mapped_column(Float)
    inactive_enabled: Mapped[bool] = mapped_column(Boolean)
    inactive_days: Mapped[int] = mapped_column(Integer)
    loyalty_milestone_enabled: Mapped[bool] = mapped_column(Boolean)
    loyalty_milestone_months: Mapped[list[int]] = mapped_column(ARRAY(SmallInteger))
    catch_up_days: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())
    # The API key that stored them (no foreign key: keys are revoked, not deleted).
    updated_by_key_id: Mapped[uuid.UUID | None]

    __table_args__ = (
        CheckConstraint(
            "reorder_overdue_factor >= 1 AND reorder_overdue_factor <= 10", name="factor_range"
        ),
        CheckConstraint("inactive_days BETWEEN 1 AND 365", name="inactive_days_range"),
        CheckConstraint("catch_up_days BETWEEN 1 AND 90", name="catch_up_days_range"),
        CheckConstraint(
            "cardinality(loyalty_milestone_months) BETWEEN 1 AND 24"
            " AND 1 <= ALL(loyalty_milestone_months) AND 120 >= ALL(loyalty_milestone_months)",
            name="milestones_range",
        ),
    )
