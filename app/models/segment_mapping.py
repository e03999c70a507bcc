from __future__ import annotations

import uuid

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base
from app.models.event import EVENT_TYPES

# A track may also be dropped on purpose (noisy events a tenant does not want as usage).
SEGMENT_TARGETS = (*EVENT_TYPES, "ignore")


class SegmentMapping(Base):
    """A tenant's override of which Holdfast event type a Segment ``track`` name becomes.

    Names without a row use the defaults in ``app.integrations.segment.mapping``.
    """

    __tablename__ = "segment_mappings"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    event_name: Mapped[str] = mapped_column(String(200), primary_key=True)
    event_type: Mapped[str] = mapped_column(String(20))

    __table_args__ = (
        CheckConstraint(
            "event_type IN (" + ", ".join(f"'{t}'" for t in SEGMENT_TARGETS) + ")",
            name="event_type_known",
        ),
    )
