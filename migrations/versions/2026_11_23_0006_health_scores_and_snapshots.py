"""health scores and snapshots

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 08:39:56.946817+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "health_scores",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.String(length=200), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("tier", sa.String(length=16), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("factors", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("missing", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("model_version", sa.Integer(), nullable=False),
        sa.Column("model_revision", sa.Integer(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_health_scores_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "customer_id", name=op.f("pk_health_scores")),
    )
    op.create_index(
        "ix_health_scores_score",
        "health_scores",
        ["tenant_id", "score", "customer_id"],
        unique=False,
    )
    op.create_index(
        "ix_health_scores_tier_score",
        "health_scores",
        ["tenant_id", "tier", "score", "customer_id"],
        unique=False,
    )
    op.create_table(
        "health_snapshots",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.String(length=200), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("tier", sa.String(length=16), nullable=True),
        sa.Column("model_version", sa.Integer(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_health_snapshots_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "tenant_id", "customer_id", "day", name=op.f("pk_health_snapshots")
        ),
    )


def downgrade() -> None:
    op.drop_table("health_snapshots")
    op.drop_index("ix_health_scores_tier_score", table_name="health_scores")
    op.drop_index("ix_health_scores_score", table_name="health_scores")
    op.drop_table("health_scores")
