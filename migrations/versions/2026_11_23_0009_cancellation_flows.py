"""cancellation flows

Revision ID: 0009
Revises: 0007
Create Date: 2026-11-23 08:55:46.818940+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cancellation_flows",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="open", nullable=False),
        sa.Column("variant", sa.String(length=16), nullable=False),
        sa.Column(
            "offers_shown",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "offers_withheld",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column("accepted_offer_id", sa.Uuid(), nullable=True),
        sa.Column("accepted_kind", sa.String(length=16), nullable=True),
        sa.Column("accepted_params", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("cancel_effective_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "applied_event_ids",
            sa.ARRAY(sa.Uuid()),
            server_default=sa.text("'{}'"),
            nullable=False,
        ),
        sa.Column(
            "applied_event_keys",
            sa.ARRAY(sa.String(length=255)),
            server_default=sa.text("'{}'"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("customer_status", sa.String(length=16), nullable=False),
        sa.Column("plan", sa.String(length=200), nullable=True),
        sa.Column("plan_mrr", sa.BigInteger(), nullable=False),
        sa.Column("mrr", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("health_score", sa.Float(), nullable=True),
        sa.Column("health_tier", sa.String(length=16), nullable=True),
        sa.CheckConstraint(
            "(status = 'accepted') = (accepted_offer_id IS NOT NULL)",
            name=op.f("ck_cancellation_flows_accepted_has_offer"),
        ),
        sa.CheckConstraint(
            "(status = 'open') = (decided_at IS NULL)",
            name=op.f("ck_cancellation_flows_decided_unless_open"),
        ),
        sa.CheckConstraint(
            "status IN ('open', 'accepted', 'declined', 'abandoned')",
            name=op.f("ck_cancellation_flows_status_known"),
        ),
        sa.CheckConstraint(
            "variant IN ('treatment', 'holdout')", name=op.f("ck_cancellation_flows_variant_known")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "customer_id"],
            ["customers.tenant_id", "customers.customer_id"],
            name=op.f("fk_cancellation_flows_tenant_id_customers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_cancellation_flows_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_cancellation_flows")),
    )
    op.create_index(
        "ix_cancellation_flows_created",
        "cancellation_flows",
        ["tenant_id", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_cancellation_flows_customer",
        "cancellation_flows",
        ["tenant_id", "customer_id", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_cancellation_flows_open_expiry",
        "cancellation_flows",
        ["tenant_id", "expires_at"],
        unique=False,
        postgresql_where=sa.text("status = 'open'"),
    )
    op.create_index(
        "uq_cancellation_flows_open",
        "cancellation_flows",
        ["tenant_id", "customer_id"],
        unique=True,
        postgresql_where=sa.text("status = 'open'"),
    )


def downgrade() -> None:
    op.drop_table("cancellation_flows")
