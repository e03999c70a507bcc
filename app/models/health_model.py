from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class HealthModel(Base):
    """A learned health model of one tenant, versioned and never rewritten.

    ``labels_until`` is the instant every training and validation label was known by (cutoff +
    horizon <= labels_until): the model may score any instant at or after it without having
    seen the outcomes it predicts. ``active`` says whether it beat the expert model on the
    out-of-time window (the latest labelled cutoffs, never used to fit); ``reason`` why or why
    not. ``parameters`` holds the feature names and transforms, the scaling (means, scales),
    the coefficients and intercept, the calibration, the per-tenant tier thresholds and the
    tenant's top usage features.
    """

    __tablename__ = "health_models"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    trained_at: Mapped[datetime]
    labels_until: Mapped[datetime]
    horizon_days: Mapped[int] = mapped_column(Integer)
    train_from: Mapped[datetime | None]
    train_to: Mapped[datetime | None]
    validation_from: Mapped[datetime | None]
    validation_to: Mapped[datetime | None]
    examples: Mapped[int] = mapped_column(Integer)
    positives: Mapped[int] = mapped_column(Integer)
    validation_examples: Mapped[int] = mapped_column(Integer)
    validation_positives: Mapped[int] = mapped_column(Integer)
    auc_learned: Mapped[float | None] = mapped_column(Float)
    auc_expert: Mapped[float | None] = mapped_column(Float)
    active: Mapped[bool]
    reason: Mapped[str] = mapped_column(Text)
    parameters: Mapped[dict[str, Any]] = mapped_column(JSONB)

    __table_args__ = (
        CheckConstraint("version > 0", name="version_positive"),
        CheckConstraint("kind IN ('learned')", name="kind_known"),
        Index("ix_health_models_labels_until", "tenant_id", "labels_until"),
    )
