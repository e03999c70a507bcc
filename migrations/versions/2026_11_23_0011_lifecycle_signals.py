"""lifecycle signals: settings, emissions, tenant purchase rhythms, purchases index

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23 09:43:31.183660+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "signal_settings",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("reorder_overdue_enabled", sa.Boolean(), nullable=False),
        sa.Column("reorder_overdue_factor", sa.Float(), nullable=False),
        sa.Column("inactive_enabled", sa.Boolean(), nullable=False),
        sa.Column("inactive_days", sa.Integer(), nullable=False),
        sa.Column("loyalty_milestone_enabled", sa.Boolean(), nullable=False),
        sa.Column("loyalty_milestone_months", sa.ARRAY(sa.SmallInteger()), nullable=False),
        sa.Column("catch_up_days", sa.Integer(), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("updated_by_key_id", sa.Uuid(), nullable=True),
        sa.CheckConstraint(
            "cardinality(loyalty_milestone_months) BETWEEN 1 AND 24"
            " AND 1 <= ALL(loyalty_milestone_months) AND 120 >= ALL(loyalty_milestone_months)",
            name=op.f("ck_signal_settings_milestones_range"),
        ),
        sa.CheckConstraint(
            "catch_up_days BETWEEN 1 AND 90", name=op.f("ck_signal_settings_catch_up_days_range")
        ),
        sa.CheckConstraint(
            "inactive_days BETWEEN 1 AND 365", name=op.f("ck_signal_settings_inactive_days_range")
        ),
        sa.CheckConstraint(
            "reorder_overdue_factor >= 1 AND reorder_overdue_factor <= 10",
            name=op.f("ck_signal_settings_factor_range"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_signal_settings_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_signal_settings")),
    )
    op.create_table(
        "signal_emissions",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.String(length=200), nullable=False),
        sa.Column("signal", sa.String(length=32), nullable=False),
        sa.Column("dedupe_key", sa.String(length=64), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("emitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "signal IN ('reorder_overdue', 'inactive', 'loyalty_milestone')",
            name=op.f("ck_signal_emissions_signal_known"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "customer_id"],
            ["customers.tenant_id", "customers.customer_id"],
            name=op.f("fk_signal_emissions_tenant_id_customers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_signal_emissions_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "tenant_id", "customer_id", "signal", "dedupe_key", name=op.f("pk_signal_emissions")
        ),
    )
    op.create_table(
        "tenant_purchase_rhythms",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("median_interval_days", sa.Float(), nullable=True),
        sa.Column("repeat_buyers", sa.BigInteger(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_tenant_purchase_rhythms_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_tenant_purchase_rhythms")),
    )
    op.create_index(
        "ix_events_purchases",
        "events",
        ["tenant_id", "customer_id", "occurred_at"],
        unique=False,
        postgresql_where=sa.text("type = 'purchase'"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_events_purchases", table_name="events", postgresql_where=sa.text("type = 'purchase'")
    )
    op.drop_table("tenant_purchase_rhythms")
    op.drop_table("signal_emissions")
    op.drop_table("signal_settings")
