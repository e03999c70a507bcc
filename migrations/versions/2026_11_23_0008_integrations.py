"""integrations

Revision ID: 0008
Revises: 0002
Create Date: 2026-11-23 08:37:49.880064+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "segment_mappings",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("event_name", sa.String(length=200), nullable=False),
        sa.Column("event_type", sa.String(length=20), nullable=False),
        sa.CheckConstraint(
            "event_type IN ('purchase', 'usage', 'cancellation', 'pause', 'resume',"
            " 'plan_change', 'payment_failed', 'feedback', 'ignore')",
            name=op.f("ck_segment_mappings_event_type_known"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_segment_mappings_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "event_name", name=op.f("pk_segment_mappings")),
    )
    op.create_table(
        "stripe_endpoints",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("webhook_secret", sa.String(length=255), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_stripe_endpoints_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_stripe_endpoints")),
    )


def downgrade() -> None:
    op.drop_table("stripe_endpoints")
    op.drop_table("segment_mappings")
