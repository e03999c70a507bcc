from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, SmallInteger, String, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base

CUSTOMER_STATUSES = ("lead", "active", "paused", "cancelled")


class Customer(Base):
    """A customer's current state, folded from its events (see ``app.customers.fold``).

    ``status``/``mrr`` are as of the newest event; scheduled transitions (a pending cancellation's
    ``cancel_effective_at``, a pause's ``paused_until``) are resolved against the clock on read.
    ``mrr`` is the recurring revenue counted now (0 while paused or cancelled); ``plan_mrr`` is
    the subscription's price, kept through a pause so a resume restores it.
    """

    __tablename__ = "customers"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    customer_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), server_default="lead")
    plan: Mapped[str | None] = mapped_column(String(200))
    mrr: Mapped[int] = mapped_column(BigInteger, server_default="0")
    plan_mrr: Mapped[int] = mapped_column(BigInteger, server_default="0")
    currency: Mapped[str | None] = mapped_column(String(3))

    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    subscribed_at: Mapped[datetime | None]
    last_usage_at: Mapped[datetime | None]
    last_purchase_at: Mapped[datetime | None]
    paused_at: Mapped[datetime | None]
    paused_until: Mapped[datetime | None]
    cancel_requested_at: Mapped[datetime | None]
    cancel_effective_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    cancel_reason: Mapped[str | None] = mapped_column(String(64))
    reactivated_at: Mapped[datetime | None]

    event_count: Mapped[int] = mapped_column(BigInteger, server_default="0")
    usage_events: Mapped[int] = mapped_column(BigInteger, server_default="0")
    usage_quantity: Mapped[int] = mapped_column(BigInteger, server_default="0")
    purchase_count: Mapped[int] = mapped_column(BigInteger, server_default="0")
    payment_failed_count: Mapped[int] = mapped_column(BigInteger, server_default="0")
    last_payment_failed_at: Mapped[datetime | None]
    nps_latest: Mapped[int | None] = mapped_column(SmallInteger)
    nps_previous: Mapped[int | None] = mapped_column(SmallInteger)
    nps_at: Mapped[datetime | None]
    discount_until: Mapped[datetime | None]
    discount_base_mrr: Mapped[int | None] = mapped_column(BigInteger)

    traits: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())

    __table_args__ = (
        CheckConstraint(
            "status IN (" + ", ".join(f"'{s}'" for s in CUSTOMER_STATUSES) + ")",
            name="status_known",
        ),
    )
