"""Paddle and Chargebee endpoints; Standard Webhooks secrets with rotation

Revision ID: 0016
Revises: 0013
Create Date: 2026-12-06 09:40:00.000000+00:00

Outbound webhooks move to the Standard Webhooks signature, whose secrets are ``whsec_`` + the
base64 of the HMAC key. The old secrets were used as keys by their UTF-8 bytes (prefix
included), so each is rewritten as ``whsec_`` + base64 of exactly those bytes: the key material
an endpoint was given stays the same, only its spelling changes.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamps() -> list[sa.Column[object]]:
    return [
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
    ]


def upgrade() -> None:
    op.create_table(
        "paddle_endpoints",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("webhook_secret", sa.String(length=255), nullable=False),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_paddle_endpoints_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_paddle_endpoints")),
    )
    op.create_table(
        "chargebee_endpoints",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("password_sha256", sa.String(length=64), nullable=False),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_chargebee_endpoints_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_chargebee_endpoints")),
    )
    op.add_column(
        "webhook_endpoints", sa.Column("previous_secret", sa.String(length=100), nullable=True)
    )
    op.add_column(
        "webhook_endpoints",
        sa.Column("previous_secret_expires_at", sa.DateTime(timezone=True), nullable=True),
    )
    # encode(..., 'base64') wraps lines at 76 characters; the old secrets (49 bytes) give 68,
    # but the newlines are removed anyway.
    op.execute(
        "UPDATE webhook_endpoints "
        "SET secret = 'whsec_' || translate(encode(convert_to(secret, 'UTF8'), 'base64'), "
        "E'\\n', '') "
        "WHERE secret IS NOT NULL"
    )


def downgrade() -> None:
    # Secrets migrated from the old format turn back into it; secrets created since (random key
    # bytes, not text) have no old spelling and are kept as they are.
    op.execute(
        "UPDATE webhook_endpoints "
        "SET secret = convert_from(decode(substr(secret, 7), 'base64'), 'UTF8') "
        "WHERE secret IS NOT NULL "
        "AND substr(decode(substr(secret, 7), 'base64'), 1, 6) = 'whsec_'::bytea"
    )
    op.drop_column("webhook_endpoints", "previous_secret_expires_at")
    op.drop_column("webhook_endpoints", "previous_secret")
    op.drop_table("chargebee_endpoints")
    op.drop_table("paddle_endpoints")
