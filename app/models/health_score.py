from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class HealthScore(Base):
    """Each customer's latest materialised health score, summarised (tier and the biggest
    drag in words); the full explanation is computed on read. Written by the scorers.

    ``status`` is the customer's status the score was computed for: comparing it with the next
    computation is how transitions that happen by the clock alone (a scheduled cancellation
    taking effect) are noticed and announced.
    """

    __tablename__ = "health_scores"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    customer_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    score: Mapped[float | None] = mapped_column(Float)
    tier: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    summary: Mapped[str] = mapped_column(Text)
    model_version: Mapped[int] = mapped_column(Integer)
    model_revision: Mapped[int] = mapped_column(Integer)
    computed_at: Mapped[datetime]

    # No secondary index: every rescore rewrites most rows, and with none (and room left on
    # each page) the rewrites are HOT updates that touch no index. Reads go by the key, or scan
    # one tenant's rows anyway (tier counts, lists sorted by score).
    __table_args__ = {"postgresql_with": {"fillfactor": 80}}


class HealthSnapshot(Base):
    """One score per customer per UTC day: the last one computed that day."""

    __tablename__ = "health_snapshots"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    customer_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    score: Mapped[float | None] = mapped_column(Float)
    tier: Mapped[str | None] = mapped_column(String(16))
    model_version: Mapped[int] = mapped_column(Integer)
    computed_at: Mapped[datetime]
