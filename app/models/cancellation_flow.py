from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    CheckConstraint,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    String,
    Text,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base

FLOW_STATUSES = ("open", "accepted", "declined", "abandoned")
FLOW_VARIANTS = ("treatment", "holdout")


class CancellationFlow(Base):
    """One cancellation flow: a customer asked to cancel, Holdfast answered with offers (or, in
    the holdout, none), and the flow ended accepted, declined or abandoned.

    ``offers_shown`` is what the customer saw, ranked, with parameters resolved (a downgrade's
    concrete target plan and price). ``offers_withheld`` is what a holdout flow would have
    shown: comparing like with like is what makes the holdout a control group per offer kind.
    A flow left ``open`` past ``expires_at`` is abandoned; readers treat it so even before the
    row is rewritten (lazily, see ``app.offers.flows.service``). ``decided_at`` is when it ended
    (``expires_at`` for an abandoned flow). The customer's state, plan and health at the start
    are kept for analysis; ``applied_event_ids``/``applied_event_keys`` name the events the
    decision was recorded with, in order (none for a custom offer or an abandoned flow).
    """

    __tablename__ = "cancellation_flows"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(String(32))
    comment: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), server_default="open")
    variant: Mapped[str] = mapped_column(String(16))
    offers_shown: Mapped[list[dict[str, Any]]] = mapped_column(
        JSONB, server_default=text("'[]'::jsonb")
    )
    offers_withheld: Mapped[list[dict[str, Any]]] = mapped_column(
        JSONB, server_default=text("'[]'::jsonb")
    )
    accepted_offer_id: Mapped[uuid.UUID | None]
    accepted_kind: Mapped[str | None] = mapped_column(String(16))
    accepted_params: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    cancel_effective_at: Mapped[datetime | None]
    applied_event_ids: Mapped[list[uuid.UUID]] = mapped_column(
        ARRAY(Uuid), server_default=text("'{}'")
    )
    applied_event_keys: Mapped[list[str]] = mapped_column(
        ARRAY(String(255)), server_default=text("'{}'")
    )
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
    customer_status: Mapped[str] = mapped_column(String(16))
    plan: Mapped[str | None] = mapped_column(String(200))
    plan_mrr: Mapped[int] = mapped_column(BigInteger)
    mrr: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))
    health_score: Mapped[float | None] = mapped_column(Float)
    health_tier: Mapped[str | None] = mapped_column(String(16))

    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "customer_id"],
            ["customers.tenant_id", "customers.customer_id"],
            ondelete="CASCADE",
        ),
        CheckConstraint(
            "status IN (" + ", ".join(f"'{s}'" for s in FLOW_STATUSES) + ")",
            name="status_known",
        ),
        CheckConstraint(
            "variant IN (" + ", ".join(f"'{v}'" for v in FLOW_VARIANTS) + ")",
            name="variant_known",
        ),
        CheckConstraint(
            "(status = 'accepted') = (accepted_offer_id IS NOT NULL)", name="accepted_has_offer"
        ),
        CheckConstraint("(status = 'open') = (decided_at IS NULL)", name="decided_unless_open"),
        Index("ix_cancellation_flows_customer", "tenant_id", "customer_id", "created_at"),
        Index("ix_cancellation_flows_created", "tenant_id", "created_at"),
        # At most one open flow per customer: a second start returns or refuses it.
        Index(
            "uq_cancellation_flows_open",
            "tenant_id",
            "customer_id",
            unique=True,
            postgresql_where=text("status = 'open'"),
        ),
        # The sweep that marks overdue flows abandoned reads only open ones.
        Index(
            "ix_cancellation_flows_open_expiry",
            "tenant_id",
            "expires_at",
            postgresql_where=text("status = 'open'"),
        ),
    )
