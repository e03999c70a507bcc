"""How one worker batch is shared among the tenants with due deliveries (pure)."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TypeVar

K = TypeVar("K", bound=Hashable)


def fair_shares(due: Sequence[tuple[K, int]], capacity: int) -> list[tuple[K, int]]:
    """Max-min fair split of ``capacity`` slots among ``(tenant, deliveries due)`` pairs.

    Every tenant gets an equal share of the batch; what a tenant does not need (it has fewer
    deliveries due) is shared again among the others, until the batch is full or nothing is
    left. When there are more tenants than slots, or slots do not divide evenly, the tenants
    listed first get the extra slot: callers list them by their oldest due delivery, so a tenant
    left out of one batch moves up in the next, and one busy tenant never takes more than its
    share while another tenant waits. Returns the tenants given at least one slot, in the
    given order.
    """
    if capacity < 0:
        raise ValueError("capacity must not be negative")
    given = {key: 0 for key, _ in due}
    wanting = [(key, demand) for key, demand in due if demand > 0]
    remaining = capacity
    while remaining > 0 and wanting:
        share = remaining // len(wanting)
        if share == 0:
            for key, _ in wanting[:remaining]:
                given[key] += 1
            remaining = 0
            break
        still_wanting = []
        for key, demand in wanting:
            take = min(share, demand - given[key])
            given[key] += take
            remaining -= take
            if given[key] < demand:
                still_wanting.append((key, demand))
        wanting = still_wanting
    return [(key, given[key]) for key, _ in due if given[key] > 0]
