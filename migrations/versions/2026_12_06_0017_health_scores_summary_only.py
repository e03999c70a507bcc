"""health_scores keeps the summary, not the explanation, and no secondary index

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 13:00:00.000000+00:00

The stored ``factors`` and ``missing`` were written on every rescore and read by nothing: the
health endpoints explain a score when it is read, lists show the summary, and webhooks take the
factors from the fresh result. The two score indexes served no query (customer lists order by
the score of a left join, which no index of ``health_scores`` serves; tier counts read the
tenant's rows anyway) and made every rescore update them; without them, and with room left on
each page (fillfactor 80), rewriting a score is a HOT update.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_health_scores_score", table_name="health_scores")
    op.drop_index("ix_health_scores_tier_score", table_name="health_scores")
    op.drop_column("health_scores", "factors")
    op.drop_column("health_scores", "missing")
    op.execute("ALTER TABLE health_scores SET (fillfactor = 80)")


def downgrade() -> None:
    # The explanations are not recovered: the next rescore writes the summaries anew.
    for name in ("factors", "missing"):
        op.add_column(
            "health_scores",
            sa.Column(
                name,
                postgresql.JSONB(astext_type=sa.Text()),
                server_default=sa.text("'[]'::jsonb"),
                nullable=False,
            ),
        )
        op.alter_column("health_scores", name, server_default=None)
    op.execute("ALTER TABLE health_scores RESET (fillfactor)")
    op.create_index(
        "ix_health_scores_tier_score",
        "health_scores",
        ["tenant_id", "tier", "score", "customer_id"],
    )
    op.create_index(
        "ix_health_scores_score", "health_scores", ["tenant_id", "score", "customer_id"]
    )
