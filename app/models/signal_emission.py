from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, ForeignKeyConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base

SIGNALS = ("reorder_overdue", "inactive", "loyalty_milestone")


class SignalEmission(Base):
    """One lifecycle signal announced about one customer: the dedupe record that makes each
    signal go out once.

    The primary key is the signal's identity: ``dedupe_key`` names the occasion (the last
    purchase day for ``reorder_overdue``, the last usage day for ``inactive``, the milestone in
    months for ``loyalty_milestone``). A scan inserts with ``ON CONFLICT DO NOTHING`` and
    enqueues webhooks only for the rows it actually inserted, so repeated or concurrent scans
    announce each occasion once. ``due_at`` is when the condition became true, ``event_id`` the
    webhook event id receivers saw.
    """

    __tablename__ = "signal_emissions"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    customer_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    signal: Mapped[str] = mapped_column(String(32), primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    due_at: Mapped[datetime]
    emitted_at: Mapped[datetime]
    event_id: Mapped[uuid.UUID]

    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "customer_id"],
            ["customers.tenant_id", "customers.customer_id"],
            ondelete="CASCADE",
        ),
        CheckConstraint(
            "signal IN (" + ", ".join(f"'{s}'" for s in SIGNALS) + ")", name="signal_known"
        ),
    )
