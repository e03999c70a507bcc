from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    SmallInteger,
    String,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base

DELIVERY_STATUSES = ("pending", "delivered", "failed", "cancelled")


class WebhookDelivery(Base):
    """One event for one endpoint: the transactional outbox and the delivery log in one row.

    A row is written (``pending``) in the same transaction as the change it announces, so a
    committed change always has its deliveries and a rolled-back one never does. The worker
    claims due rows, sends them and records the outcome here. ``event_id`` is the same for
    every endpoint receiving the event: receivers deduplicate on it.

    While a worker is sending, ``next_attempt_at`` is its lease: if the worker dies before
    recording the outcome, the row becomes due again when the lease passes. ``attempts`` counts
    claims, so it also fences a worker whose lease expired from overwriting a newer attempt.
    """

    __tablename__ = "webhook_deliveries"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    endpoint_id: Mapped[uuid.UUID]
    event_id: Mapped[uuid.UUID]
    event_type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(16), server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    next_attempt_at: Mapped[datetime | None]
    last_attempt_at: Mapped[datetime | None]
    last_status_code: Mapped[int | None] = mapped_column(SmallInteger)
    last_error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    delivered_at: Mapped[datetime | None]

    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "endpoint_id"],
            ["webhook_endpoints.tenant_id", "webhook_endpoints.id"],
            ondelete="CASCADE",
        ),
        CheckConstraint(
            "status IN (" + ", ".join(f"'{s}'" for s in DELIVERY_STATUSES) + ")",
            name="status_known",
        ),
        CheckConstraint(
            "status <> 'pending' OR next_attempt_at IS NOT NULL", name="pending_is_scheduled"
        ),
        # An event reaches an endpoint through one row, however often enqueue is retried.
        Index(
            "uq_webhook_deliveries_endpoint_event",
            "tenant_id",
            "endpoint_id",
            "event_id",
            unique=True,
        ),
        # The delivery log of an endpoint, newest first.
        Index("ix_webhook_deliveries_log", "tenant_id", "endpoint_id", "created_at", "id"),
        # The worker's claim: due pending rows across all tenants, oldest due first. Partial, so
        # it stays as small as the backlog however long the log grows.
        Index(
            "ix_webhook_deliveries_due",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
        ),
    )
