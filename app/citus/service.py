"""Distributing a Holdfast database on Citus, on a synchronous connection (the CLI runs it
through ``run_sync``; migrations call :func:`distribute_new_table` with ``op.get_bind()``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection

from app.citus.plan import Placement, Plan, plan_distribution
from app.models.distribution import DISTRIBUTION_COLUMN, REFERENCE_TABLES, tenant_tables


class CitusUnavailable(Exception):
    """The database cannot be distributed as it is (no citus extension, no nodes for shards)."""


class LayoutConflict(Exception):
    """Some table is already laid out otherwise; nothing was changed."""


@dataclass(frozen=True)
class ForeignKey:
    table: str
    name: str
    definition: str


@dataclass
class Report:
    citus_version: str
    shard_nodes: int
    plan: Plan
    colocation_id: int | None = None
    shard_count: int | None = None
    foreign_keys: list[ForeignKey] = field(default_factory=list)

    def lines(self) -> list[str]:
        plan = self.plan
        lines = [f"citus {self.citus_version}; {self.shard_nodes} nodes hold shards"]
        for name in plan.make_reference:
            lines.append(f"reference table   {name}: made")
        for name in plan.already_reference:
            lines.append(f"reference table   {name}: already")
        group = f"colocation group {self.colocation_id}, {self.shard_count} shards each"
        for name in plan.distribute:
            lines.append(f"distributed table {name}: made ({DISTRIBUTION_COLUMN}; {group})")
        for name in plan.already_distributed:
            lines.append(f"distributed table {name}: already ({DISTRIBUTION_COLUMN}; {group})")
        if self.foreign_keys:
            lines.append(
                f"foreign keys dropped and recreated around the change: {len(self.foreign_keys)}"
            )
        lines.append("done" if plan.changes else "nothing to do: already distributed")
        return lines


def citus_version(conn: Connection) -> str | None:
    version: str | None = conn.scalar(
        text("SELECT extversion FROM pg_extension WHERE extname = 'citus'")
    )
    return version


def current_layout(conn: Connection) -> dict[str, Placement]:
    """How Citus holds each table of the current schema it knows about."""
    rows = conn.execute(
        text("""
        SELECT c.relname, p.partmethod::text AS partmethod, p.repmodel::text AS repmodel,
               p.colocationid,
               CASE WHEN p.partmethod = 'h'
                    THEN column_to_column_name(p.logicalrelid, p.partkey) END AS column_name
        FROM pg_dist_partition p
        JOIN pg_class c ON c.oid = p.logicalrelid
        WHERE c.relnamespace = current_schema()::regnamespace
        """)
    ).all()
    layout: dict[str, Placement] = {}
    for row in rows:
        if row.partmethod == "h":
            layout[row.relname] = Placement("distributed", row.column_name, row.colocationid)
        elif row.repmodel == "t":
            layout[row.relname] = Placement("reference", None, row.colocationid)
        else:
            layout[row.relname] = Placement("citus_local", None, row.colocationid)
    return layout


def _require_citus(conn: Connection) -> str:
    version = citus_version(conn)
    if version is None:
        database = conn.scalar(text("SELECT current_database()"))
        raise CitusUnavailable(
            f"the citus extension is not installed in database {database!r}: install Citus on "
            "every node, run CREATE EXTENSION citus and add the workers first (docs/scaling.md)"
        )
    return version


def _shard_nodes(conn: Connection) -> int:
    count = conn.scalar(
        text(
            "SELECT count(*) FROM pg_dist_node"
            " WHERE isactive AND noderole = 'primary' AND shouldhaveshards"
        )
    )
    return int(count or 0)


def _foreign_keys_touching(conn: Connection, tables: list[str]) -> list[ForeignKey]:
    rows = conn.execute(
        text("""
        SELECT cl.relname, co.conname, pg_get_constraintdef(co.oid) AS definition
        FROM pg_constraint co
        JOIN pg_class cl ON cl.oid = co.conrelid
        JOIN pg_class ref ON ref.oid = co.confrelid
        WHERE co.contype = 'f' AND cl.relnamespace = current_schema()::regnamespace
          AND (cl.relname = ANY(:tables) OR ref.relname = ANY(:tables))
        ORDER BY cl.relname, co.conname
        """),
        {"tables": tables},
    ).all()
    return [ForeignKey(row.relname, row.conname, row.definition) for row in rows]


def distribute(conn: Connection, metadata: MetaData, shard_count: int | None = None) -> Report:
    """Make the reference tables reference tables and distribute every tenant-owned table by
    tenant_id in one colocation group, inside the caller's transaction (all or nothing).

    Citus refuses foreign keys from citus-local tables to distributed ones, and making
    ``tenants`` a reference table turns every table referencing it into a citus-local table, so
    the foreign keys of the tables being converted are dropped first and recreated, unchanged,
    once every table is in place. Running it again changes nothing."""
    version = _require_citus(conn)
    nodes = _shard_nodes(conn)
    plan = plan_distribution(
        REFERENCE_TABLES, tenant_tables(metadata), DISTRIBUTION_COLUMN, current_layout(conn)
    )
    if plan.conflicts:
        raise LayoutConflict("; ".join(plan.conflicts))
    report = Report(citus_version=version, shard_nodes=nodes, plan=plan)
    if plan.changes:
        if nodes == 0:
            raise CitusUnavailable(
                "no node may hold shards: add the workers with citus_add_node() first"
            )
        # Foreign keys to reference tables and distributed tables created in one transaction
        # need Citus's sequential mode from the start.
        conn.execute(text("SET LOCAL citus.multi_shard_modify_mode TO 'sequential'"))
        report.foreign_keys = _foreign_keys_touching(conn, [*plan.make_reference, *plan.distribute])
        for fk in report.foreign_keys:
            conn.execute(text(f'ALTER TABLE "{fk.table}" DROP CONSTRAINT "{fk.name}"'))
        for name in plan.make_reference:
            conn.execute(text("SELECT create_reference_table(:t)"), {"t": name})
        anchor = plan.colocate_with
        for name in plan.distribute:
            if anchor is None:
                conn.execute(
                    text(
                        "SELECT create_distributed_table(:t, :c, colocate_with => 'none',"
                        " shard_count => coalesce(CAST(:n AS int),"
                        " current_setting('citus.shard_count')::int))"
                    ),
                    {"t": name, "c": DISTRIBUTION_COLUMN, "n": shard_count},
                )
                anchor = name
            else:
                conn.execute(
                    text("SELECT create_distributed_table(:t, :c, colocate_with => :a)"),
                    {"t": name, "c": DISTRIBUTION_COLUMN, "a": anchor},
                )
        for fk in report.foreign_keys:
            conn.execute(
                text(f'ALTER TABLE "{fk.table}" ADD CONSTRAINT "{fk.name}" {fk.definition}')
            )
        after = plan_distribution(
            REFERENCE_TABLES, tenant_tables(metadata), DISTRIBUTION_COLUMN, current_layout(conn)
        )
        if after.changes or after.conflicts:  # pragma: no cover - Citus did not do as asked
            raise LayoutConflict(f"the layout is incomplete after distributing: {after}")
    first = (plan.already_distributed or plan.distribute or (None,))[0]
    if first is not None:
        row = conn.execute(
            text(
                "SELECT p.colocationid, count(s.shardid) AS shards FROM pg_dist_partition p"
                " LEFT JOIN pg_dist_shard s ON s.logicalrelid = p.logicalrelid"
                " WHERE p.logicalrelid = CAST(:t AS regclass) GROUP BY p.colocationid"
            ),
            {"t": first},
        ).one()
        report.colocation_id, report.shard_count = row.colocationid, int(row.shards)
    return report


def distribute_new_table(conn: Connection, table: str) -> bool:
    """For a migration that creates a tenant-owned table: distribute it by tenant_id beside the
    others when the database is distributed; on plain PostgreSQL (or a Citus database not
    distributed yet) do nothing. Returns whether it distributed the table."""
    if citus_version(conn) is None:
        return False
    layout = current_layout(conn)
    anchors = sorted(
        name
        for name, placement in layout.items()
        if placement.kind == "distributed"
        and placement.column == DISTRIBUTION_COLUMN
        and name != table
    )
    if not anchors:
        return False
    conn.execute(
        text("SELECT create_distributed_table(:t, :c, colocate_with => :a)"),
        {"t": table, "c": DISTRIBUTION_COLUMN, "a": anchors[0]},
    )
    return True
