"""Identifiers: the alphabet of client-chosen ids, and time-ordered UUIDs (version 7, RFC 9562)
whose new rows land at the end of the primary key index instead of at random pages, which keeps
ingest fast as tables grow."""

from __future__ import annotations

import os
import time
import uuid

# Ids travel in URL paths: a conservative alphabet that still fits emails, UUIDs, Stripe ids
# and "auth0|..." style ids.
ID_PATTERN = r"^[A-Za-z0-9._:@+|=-]+$"


def uuid7_many(n: int) -> list[uuid.UUID]:
    """``n`` version 7 UUIDs of this millisecond, in increasing order (one call for the random
    bits of a whole batch)."""
    ms = time.time_ns() // 1_000_000
    head = ((ms & ((1 << 48) - 1)) << 80) | (0x7 << 76) | (0b10 << 62)
    pool = os.urandom(10 * n)
    ids = []
    for i in range(n):
        rand = int.from_bytes(pool[10 * i : 10 * i + 10], "big")
        ids.append(uuid.UUID(int=head | (((rand >> 62) & 0xFFF) << 64) | (rand & ((1 << 62) - 1))))
    return sorted(ids)


def uuid7() -> uuid.UUID:
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76  # version
    value |= ((rand >> 62) & 0xFFF) << 64  # rand_a (12 bits)
    value |= 0b10 << 62  # variant
    value |= rand & ((1 << 62) - 1)  # rand_b (62 bits)
    return uuid.UUID(int=value)
