from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Integer, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class HealthSettingsVersion(Base):
    """One version of a tenant's health model settings (``app.health.settings.HealthSettings``
    as JSON). Versions count up from 1 per tenant and are never rewritten, so a score's
    ``model_version`` keeps resolving to the parameters that produced it. No row means the
    defaults (version 0)."""

    __tablename__ = "health_settings"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    settings: Mapped[dict[str, Any]] = mapped_column(JSONB)
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())
    # The API key that stored this version (no foreign key: keys are revoked, not deleted, and
    # the audit trail must outlive them).
    updated_by_key_id: Mapped[uuid.UUID | None]

    __table_args__ = (CheckConstraint("version > 0", name="version_positive"),)
