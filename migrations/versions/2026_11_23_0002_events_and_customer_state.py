"""events and customer state

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 08:23:18.220700+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "customer_status_changes",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.String(length=200), nullable=False),
        sa.Column("effective_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seq", sa.SmallInteger(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("previous_status", sa.String(length=16), nullable=False),
        sa.Column("plan", sa.String(length=200), nullable=True),
        sa.Column("mrr", sa.BigInteger(), nullable=False),
        sa.Column("previous_mrr", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.Column("event_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_customer_status_changes_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "tenant_id",
            "customer_id",
            "effective_at",
            "seq",
            name=op.f("pk_customer_status_changes"),
        ),
    )
    op.create_index(
        "ix_customer_status_changes_time",
        "customer_status_changes",
        ["tenant_id", "effective_at"],
        unique=False,
    )
    op.create_table(
        "customers",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="lead", nullable=False),
        sa.Column("plan", sa.String(length=200), nullable=True),
        sa.Column("mrr", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("plan_mrr", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("subscribed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_usage_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_purchase_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paused_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paused_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancel_requested_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancel_effective_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancel_reason", sa.String(length=64), nullable=True),
        sa.Column("reactivated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("event_count", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("usage_events", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("usage_quantity", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("purchase_count", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("revenue_total", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("payment_failed_count", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("last_payment_failed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("nps_latest", sa.SmallInteger(), nullable=True),
        sa.Column("nps_previous", sa.SmallInteger(), nullable=True),
        sa.Column("nps_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "traits",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status IN ('lead', 'active', 'paused', 'cancelled')",
            name=op.f("ck_customers_status_known"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_customers_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "customer_id", name=op.f("pk_customers")),
    )
    op.create_table(
        "events",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=200), nullable=False),
        sa.Column("type", sa.String(length=20), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("source", sa.String(length=32), server_default="api", nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("plan", sa.String(length=200), nullable=True),
        sa.Column("mrr", sa.BigInteger(), nullable=True),
        sa.Column("quantity", sa.BigInteger(), nullable=True),
        sa.Column("feature", sa.String(length=200), nullable=True),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("effective_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resume_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("nps", sa.SmallInteger(), nullable=True),
        sa.Column(
            "properties",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "type IN ('purchase', 'usage', 'cancellation', 'pause', 'resume', 'plan_change',"
            " 'payment_failed', 'feedback')",
            name=op.f("ck_events_type_known"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_events_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_events")),
    )
    op.create_index(
        "ix_events_customer_lifecycle",
        "events",
        ["tenant_id", "customer_id", "occurred_at"],
        unique=False,
        postgresql_where=sa.text("type <> 'usage'"),
    )
    op.create_index(
        "ix_events_customer_time",
        "events",
        ["tenant_id", "customer_id", "occurred_at"],
        unique=False,
    )
    op.create_index(
        "uq_events_tenant_id_idempotency_key",
        "events",
        ["tenant_id", "idempotency_key"],
        unique=True,
    )
    op.create_table(
        "usage_daily",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.String(length=200), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_usage_daily_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "customer_id", "day", name=op.f("pk_usage_daily")),
    )


def downgrade() -> None:
    op.drop_table("usage_daily")
    op.drop_index("uq_events_tenant_id_idempotency_key", table_name="events")
    op.drop_index("ix_events_customer_time", table_name="events")
    op.drop_index(
        "ix_events_customer_lifecycle",
        table_name="events",
        postgresql_where=sa.text("type <> 'usage'"),
    )
    op.drop_table("events")
    op.drop_table("customers")
    op.drop_index("ix_customer_status_changes_time", table_name="customer_status_changes")
    op.drop_table("customer_status_changes")
