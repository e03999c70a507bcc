from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class AuditEntry(Base):
    """Who did what to which customer's personal data, and when (exports and erasures).

    The customer is recorded only as ``target_hash`` (SHA-256 of tenant id and customer id; see
    ``app.privacy.service.customer_hash``), never in clear: after an erasure the log must not
    hold the erased identifier, yet whoever knows the id can still find its entries.
    ``details`` holds counts per table, never row contents. The actor is the API key's id (no
    foreign key: keys are revoked, not deleted, and the trail must outlive them).
    """

    __tablename__ = "audit_log"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(server_default=func.now())
    actor_key_id: Mapped[uuid.UUID | None]
    action: Mapped[str] = mapped_column(String(64))
    target_hash: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))

    __table_args__ = (
        Index("ix_audit_log_time", "tenant_id", "at", "id"),
        Index("ix_audit_log_target", "tenant_id", "target_hash"),
    )
