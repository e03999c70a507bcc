from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    SmallInteger,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base

EVENT_TYPES = (
    "purchase",
    "usage",
    "cancellation",
    "pause",
    "resume",
    "plan_change",
    "payment_failed",
    "feedback",
)


class Event(Base):
    """An accepted event, append-only. ``(tenant_id, idempotency_key)`` is unique forever.

    Typed columns hold what folding and queries need; anything else stays in ``properties``.
    """

    __tablename__ = "events"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(255))
    content_hash: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(20))
    occurred_at: Mapped[datetime]
    received_at: Mapped[datetime] = mapped_column(server_default=func.now())
    source: Mapped[str] = mapped_column(String(32), server_default="api")
    amount: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))
    plan: Mapped[str | None] = mapped_column(String(200))
    mrr: Mapped[int | None] = mapped_column(BigInteger)
    quantity: Mapped[int | None] = mapped_column(BigInteger)
    feature: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(String(64))
    comment: Mapped[str | None] = mapped_column(Text)
    effective_at: Mapped[datetime | None]
    resume_at: Mapped[datetime | None]
    nps: Mapped[int | None] = mapped_column(SmallInteger)
    discount_until: Mapped[datetime | None]
    properties: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))

    __table_args__ = (
        CheckConstraint(
            "type IN (" + ", ".join(f"'{t}'" for t in EVENT_TYPES) + ")", name="type_known"
        ),
        Index("uq_events_tenant_id_idempotency_key", "tenant_id", "idempotency_key", unique=True),
        Index("ix_events_customer_time", "tenant_id", "customer_id", "occurred_at"),
        # Re-folding reads a customer's lifecycle events only; usage never needs ordering.
        Index(
            "ix_events_customer_lifecycle",
            "tenant_id",
            "customer_id",
            "occurred_at",
            postgresql_where=text("type <> 'usage'"),
        ),
        # Purchase rhythms and the value metrics read purchases only, per customer in time
        # order; usage events (most rows) stay out of the index.
        Index(
            "ix_events_purchases",
            "tenant_id",
            "customer_id",
            "occurred_at",
            postgresql_where=text("type = 'purchase'"),
        ),
    )
