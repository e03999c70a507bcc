"""health scores refreshed after the ingest (health_dirty); revenue per currency

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 09:40:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "health_dirty",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.String(length=200), nullable=False),
        sa.Column("marked_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_health_dirty_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "customer_id", name=op.f("pk_health_dirty")),
    )
    op.create_table(
        "customer_revenue",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.String(length=200), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("purchases", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_customer_revenue_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "tenant_id", "customer_id", "currency", name=op.f("pk_customer_revenue")
        ),
    )
    op.execute(
        """
        INSERT INTO customer_revenue (tenant_id, customer_id, currency, amount, purchases)
        SELECT tenant_id, customer_id, currency, coalesce(sum(amount), 0), count(*)
        FROM events
        WHERE type = 'purchase' AND currency IS NOT NULL
        GROUP BY tenant_id, customer_id, currency
        """
    )
    op.drop_column("customers", "revenue_total")


def downgrade() -> None:
    op.add_column(
        "customers",
        sa.Column("revenue_total", sa.BigInteger(), server_default="0", nullable=False),
    )
    op.execute(
        """
        UPDATE customers c SET revenue_total = r.amount
        FROM (SELECT tenant_id, customer_id, sum(amount) AS amount FROM customer_revenue
              GROUP BY tenant_id, customer_id) r
        WHERE c.tenant_id = r.tenant_id AND c.customer_id = r.customer_id
        """
    )
    op.drop_table("customer_revenue")
    op.drop_table("health_dirty")
