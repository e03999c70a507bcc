"""temporary discounts

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 08:50:18.400325+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "customers", sa.Column("discount_until", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("customers", sa.Column("discount_base_mrr", sa.BigInteger(), nullable=True))
    op.add_column("events", sa.Column("discount_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("events", "discount_until")
    op.drop_column("customers", "discount_base_mrr")
    op.drop_column("customers", "discount_until")
