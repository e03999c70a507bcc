from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class HealthScore(Base):
    """Each customer's latest materialised health score (rewritten on ingest and by rescoring).

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
    factors: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    missing: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    model_version: Mapped[int] = mapped_column(Integer)
    model_revision: Mapped[int] = mapped_column(Integer)
    computed_at: Mapped[datetime]

    __table_args__ = (
        Index("ix_health_scores_tier_score", "tenant_id", "tier", "score", "customer_id"),
        Index("ix_health_scores_score", "tenant_id", "score", "customer_id"),
    )


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
