"""learned health models

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 10:20:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "health_models",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("trained_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("labels_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("horizon_days", sa.Integer(), nullable=False),
        sa.Column("train_from", sa.DateTime(timezone=True), nullable=True),
        sa.Column("train_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column("validation_from", sa.DateTime(timezone=True), nullable=True),
        sa.Column("validation_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column("examples", sa.Integer(), nullable=False),
        sa.Column("positives", sa.Integer(), nullable=False),
        sa.Column("validation_examples", sa.Integer(), nullable=False),
        sa.Column("validation_positives", sa.Integer(), nullable=False),
        sa.Column("auc_learned", sa.Float(), nullable=True),
        sa.Column("auc_expert", sa.Float(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("parameters", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.CheckConstraint("version > 0", name=op.f("ck_health_models_version_positive")),
        sa.CheckConstraint("kind IN ('learned')", name=op.f("ck_health_models_kind_known")),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_health_models_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "version", name=op.f("pk_health_models")),
    )
    op.create_index(
        "ix_health_models_labels_until",
        "health_models",
        ["tenant_id", "labels_until"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_health_models_labels_until", table_name="health_models")
    op.drop_table("health_models")
