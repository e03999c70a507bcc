"""Per-key request-rate limits as token buckets (pure: the caller passes the clock).

A bucket holds at most ``burst`` tokens and gains ``rate`` tokens per second; a request takes
one token, and is refused when less than one is left. So a key can send ``burst`` requests at
once and ``rate`` per second sustained.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one request against its bucket, in the terms of the RateLimit headers.

    ``limit``: the bucket's capacity. ``remaining``: whole tokens left after this request.
    ``reset_s``: seconds until the bucket is full again. ``retry_after_s``: for a refused request,
    seconds until one token is available (0 when allowed).
    """

    allowed: bool
    limit: int
    remaining: int
    reset_s: int
    retry_after_s: int


class TokenBuckets:
    """Token buckets by key, holding at most ``max_keys`` buckets.

    When full, the least recently used bucket is forgotten; a key seen again starts with a full
    bucket. That only ever lets the oldest, idlest key through more than it should, and bounds
    the memory a stream of made-up keys can take.
    """

    def __init__(self, rate: float, burst: int, max_keys: int = 100_000) -> None:
        if rate <= 0 or burst < 1 or max_keys < 1:
            raise ValueError("rate must be > 0, burst and max_keys >= 1")
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        # key -> (tokens, the instant they were counted)
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, key: str, now: float) -> Decision:
        """Take one token from ``key``'s bucket at instant ``now`` (seconds, monotonic)."""
        tokens, counted_at = self._buckets.get(key, (float(self.burst), now))
        elapsed = max(0.0, now - counted_at)
        tokens = min(float(self.burst), tokens + elapsed * self.rate)
        allowed = tokens >= 1.0
        if allowed:
            tokens -= 1.0
        self._buckets[key] = (tokens, now)
        self._buckets.move_to_end(key)
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return Decision(
            allowed=allowed,
            limit=self.burst,
            remaining=math.floor(tokens),
            reset_s=math.ceil((self.burst - tokens) / self.rate),
            retry_after_s=0 if allowed else max(1, math.ceil((1.0 - tokens) / self.rate)),
        )

    def __len__(self) -> int:
        return len(self._buckets)
