"""Retry policy for webhook deliveries (pure)."""

from __future__ import annotations

JITTER_FRACTION = 0.2


def backoff_delay_s(attempts: int, base_s: float, cap_s: float, jitter: float) -> float:
    """Seconds to wait after the ``attempts``-th failed attempt (1-based):
    ``min(cap, base * 2 ** (attempts - 1)) * (1 - JITTER_FRACTION * jitter)`` with ``jitter`` in
    [0, 1).

    The jitter only shortens a delay, by at most a fifth, so receivers recovering from an outage
    are not hit by every retry at the same instant, while successive delays still grow (each
    uncapped delay is at least 1.6 times the previous one).
    """
    if attempts < 1:
        raise ValueError("attempts starts at 1")
    if not 0.0 <= jitter < 1.0:
        raise ValueError("jitter must be in [0, 1)")
    # Bound the exponent before computing: 2 ** 1000 would overflow a float.
    exponent = min(attempts - 1, 62)
    delay = min(cap_s, base_s * 2.0**exponent)
    return delay * (1.0 - JITTER_FRACTION * jitter)


def is_success(status_code: int) -> bool:
    """A delivery succeeds on any 2xx answer; redirects are not followed and count as failures."""
    return 200 <= status_code < 300
