"""Where a customer's personal data lives, derived from the models so new tables are covered.

Every table with both ``tenant_id`` and ``customer_id`` columns holds rows about one customer:
export returns them and erasure deletes them. Tables without a ``customer_id`` column may still
name a customer inside a JSON document; those columns are listed here by hand, and a test fails
when a JSON column appears that is in neither list, so the question gets asked for every new one.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import JSONB

import app.models  # noqa: F401  (registers every table on the metadata)
from app.models.base import Base


@dataclass(frozen=True)
class JsonReference:
    """A JSON column whose documents name a customer at ``path``."""

    table: str
    column: str
    path: tuple[str, ...]


# Outbound webhook payloads carry ``data.customer_id`` (see app.webhooks.events): the delivery
# log holds copies of what was sent about the customer, and pending deliveries would send it.
JSON_REFERENCES: tuple[JsonReference, ...] = (
    JsonReference("webhook_deliveries", "payload", ("data", "customer_id")),
)

# JSON columns reviewed as holding configuration, never data about a customer.
JSON_WITHOUT_CUSTOMER_DATA: frozenset[tuple[str, str]] = frozenset(
    {
        ("health_settings", "settings"),
        ("health_models", "parameters"),
        ("offers", "params"),
        ("offers", "rules"),
        ("audit_log", "details"),
    }
)


def customer_tables() -> list[Table]:
    """Tables keyed by customer, parents before children (the metadata's dependency order)."""
    return [
        table
        for table in Base.metadata.sorted_tables
        if "customer_id" in table.c and "tenant_id" in table.c
    ]


def unreviewed_json_columns() -> list[tuple[str, str]]:
    """JSON columns outside customer tables that no one has classified yet."""
    customer = {table.name for table in customer_tables()}
    reviewed = {(ref.table, ref.column) for ref in JSON_REFERENCES} | JSON_WITHOUT_CUSTOMER_DATA
    return sorted(
        (table.name, column.name)
        for table in Base.metadata.sorted_tables
        if table.name not in customer
        for column in table.c
        if isinstance(column.type, JSONB) and (table.name, column.name) not in reviewed
    )
