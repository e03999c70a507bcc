"""Customer traits (Segment ``identify``): merged into the customer row, one statement per batch.

A trait update creates the customer as a lead when it is unknown (first and last seen = the
update's time) and otherwise leaves its state and seen times alone: traits describe a customer,
they are not activity. Traits merge shallowly, the newer message winning per top-level key
(messages are applied in the order given; across requests, in arrival order). The merged object
is capped at 64 KB: an update that would pass the cap replaces the traits instead of growing
them.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.db import driver_connection

MAX_TRAITS_BYTES = 64 * 1024

# The cap is written into the statement, not passed: Citus sends the DO UPDATE SET of an
# INSERT ... SELECT to the shards without its parameters.
_MERGE = f"""
INSERT INTO customers (tenant_id, customer_id, first_seen_at, last_seen_at, traits)
SELECT $1, customer_id, seen_at, seen_at, traits
FROM unnest($2::text[], $3::timestamptz[], $4::jsonb[]) AS u(customer_id, seen_at, traits)
ORDER BY customer_id
ON CONFLICT (tenant_id, customer_id) DO UPDATE
SET traits = CASE
        WHEN octet_length((customers.traits || EXCLUDED.traits)::text) <= {MAX_TRAITS_BYTES}
        THEN customers.traits || EXCLUDED.traits
        ELSE EXCLUDED.traits
    END,
    updated_at = EXCLUDED.updated_at
"""  # noqa: S608 (a constant)


@dataclass(frozen=True, slots=True)
class TraitsUpdate:
    customer_id: str
    traits: dict[str, Any]  # already bounded (a message's traits fit in 16 KB)
    at: datetime


def combine(updates: Sequence[TraitsUpdate]) -> list[TraitsUpdate]:
    """One update per customer, sorted by customer id: later updates (by ``at``, then by
    position) override earlier ones key by key, within the same 64 KB cap; ``at`` is the
    earliest (it only matters for a customer created by the update)."""
    merged: dict[str, TraitsUpdate] = {}
    ordered = sorted(enumerate(updates), key=lambda pair: (pair[1].at, pair[0]))
    for _, update in ordered:
        seen = merged.get(update.customer_id)
        if seen is None:
            merged[update.customer_id] = update
        else:
            traits = {**seen.traits, **update.traits}
            if len(json.dumps(traits, separators=(",", ":"))) > MAX_TRAITS_BYTES:
                traits = update.traits
            merged[update.customer_id] = TraitsUpdate(
                update.customer_id, traits, min(seen.at, update.at)
            )
    return [merged[customer_id] for customer_id in sorted(merged)]


async def merge_traits(
    session: AsyncSession, tenant_id: uuid.UUID, updates: Sequence[TraitsUpdate]
) -> None:
    """Apply ``updates`` in the caller's transaction, touching rows in customer id order (the
    order ingest locks them in, so the two never wait on each other in a cycle)."""
    rows = combine(updates)
    if not rows:
        return
    conn = await driver_connection(session)
    await conn.execute(
        _MERGE,
        tenant_id,
        [row.customer_id for row in rows],
        [row.at for row in rows],
        [json.dumps(row.traits, separators=(",", ":")) for row in rows],
    )
