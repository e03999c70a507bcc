"""What ``holdfast citus distribute`` has to do, from the wanted layout and the current one
(pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Placement:
    """How Citus holds a table now (a row of ``pg_dist_partition``). ``kind`` is ``reference``,
    ``distributed`` (hash-distributed by ``column``) or ``citus_local`` (on the coordinator,
    known to Citus, as it makes tables that reference a reference table)."""

    kind: str
    column: str | None = None
    colocation_id: int | None = None


@dataclass(frozen=True)
class Plan:
    make_reference: tuple[str, ...]
    distribute: tuple[str, ...]
    colocate_with: str | None  # an already distributed table of the group, else a new group
    already_reference: tuple[str, ...]
    already_distributed: tuple[str, ...]
    conflicts: tuple[str, ...]  # reasons the layout cannot be reached without undoing something

    @property
    def changes(self) -> bool:
        return bool(self.make_reference or self.distribute)


def plan_distribution(
    reference: Sequence[str],
    distributed: Sequence[str],
    column: str,
    current: Mapping[str, Placement],
) -> Plan:
    """Reference tables become reference tables; the others are hash-distributed by ``column``
    in one colocation group (the group the already distributed ones share). A table already
    laid out otherwise (distributed by another column, in another group, or a reference table
    that should be distributed) is a conflict: the command refuses instead of undoing it."""
    conflicts: list[str] = []
    make_reference: list[str] = []
    already_reference: list[str] = []
    for name in reference:
        placement = current.get(name)
        if placement is None or placement.kind == "citus_local":
            make_reference.append(name)
        elif placement.kind == "reference":
            already_reference.append(name)
        else:
            conflicts.append(f"{name} is distributed but must be a reference table")

    to_distribute: list[str] = []
    already_distributed: list[str] = []
    groups: set[int | None] = set()
    for name in distributed:
        placement = current.get(name)
        if placement is None or placement.kind == "citus_local":
            to_distribute.append(name)
        elif placement.kind == "reference":
            conflicts.append(f"{name} is a reference table but must be distributed by {column}")
        elif placement.column != column:
            conflicts.append(f"{name} is distributed by {placement.column}, not by {column}")
        else:
            already_distributed.append(name)
            groups.add(placement.colocation_id)
    if len(groups) > 1:
        conflicts.append(
            "the distributed tables are in several colocation groups: "
            + ", ".join(f"{name} ({current[name].colocation_id})" for name in already_distributed)
        )
    return Plan(
        make_reference=tuple(make_reference),
        distribute=tuple(to_distribute),
        colocate_with=already_distributed[0] if already_distributed else None,
        already_reference=tuple(already_reference),
        already_distributed=tuple(already_distributed),
        conflicts=tuple(conflicts),
    )
