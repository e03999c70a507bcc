"""Where each table lives on a Citus cluster: the one place that classifies tables.

Every table is tenant-owned (hash-distributed by ``tenant_id``, all in one colocation group, so
a tenant's rows of every table sit on the same node and join there) unless it is listed in
``REFERENCE_TABLES`` (small, copied to every node). ``tests/api/test_schema.py`` holds the
schema to what that requires, and ``holdfast citus distribute`` lays a database out from it.
"""

from __future__ import annotations

from sqlalchemy import MetaData

DISTRIBUTION_COLUMN = "tenant_id"

# Read on every request before the tenant is known (authentication finds a key by its prefix)
# and referenced by every tenant-owned table's foreign key: copied to every node.
REFERENCE_TABLES: tuple[str, ...] = ("tenants", "api_keys")

# Alembic's bookkeeping stays an ordinary table on the coordinator.
LOCAL_TABLES: tuple[str, ...] = ("alembic_version",)


def tenant_tables(metadata: MetaData) -> list[str]:
    """Every table of ``metadata`` that is not a reference table, in dependency order; each must
    carry the distribution column."""
    names = [t.name for t in metadata.sorted_tables if t.name not in REFERENCE_TABLES]
    missing = [name for name in names if DISTRIBUTION_COLUMN not in metadata.tables[name].columns]
    if missing:
        raise ValueError(
            f"tables without {DISTRIBUTION_COLUMN} must be listed in REFERENCE_TABLES: {missing}"
        )
    return names
