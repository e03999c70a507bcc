from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class CustomerStatusChange(Base):
    """Every change of a customer's subscription status, plan or MRR, at the instant it takes
    effect: the source of churn, MRR and cohort metrics.

    Rows are derived from events by the fold and rewritten when a customer is re-folded. A
    scheduled change (a cancellation effective at period end, the end of a pause) is written
    with its future ``effective_at``; metrics count only changes effective by their ``as_of``.
    ``mrr`` is the MRR counted after the change (0 when paused or cancelled).
    """

    __tablename__ = "customer_status_changes"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    customer_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    effective_at: Mapped[datetime] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(16))
    previous_status: Mapped[str] = mapped_column(String(16))
    plan: Mapped[str | None] = mapped_column(String(200))
    mrr: Mapped[int] = mapped_column(BigInteger)
    previous_mrr: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))
    reason: Mapped[str | None] = mapped_column(String(64))
    event_id: Mapped[uuid.UUID | None]

    __table_args__ = (Index("ix_customer_status_changes_time", "tenant_id", "effective_at"),)
