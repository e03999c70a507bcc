"""The offers every new tenant starts with, as request bodies (validated like any other offer).

Reason-specific offers outrank the general discount. The discount also requires that no
discount was accepted in the past year, so a customer cannot cancel their way into a
permanently discounted price.
"""

from __future__ import annotations

from typing import Any

DEFAULT_OFFERS: list[dict[str, Any]] = [
    {
        "kind": "pause",
        "title": "Pause instead of cancelling",
        "description": "Take a break for 1 to 3 months. Billing stops, your data stays, and "
        "you pick up where you left off.",
        "priority": 20,
        "params": {"months": 3, "min_months": 1},
        "rules": [{"field": "reason", "op": "in", "values": ["unused", "too_complex"]}],
    },
    {
        "kind": "downgrade",
        "title": "Switch to a cheaper plan",
        "description": "Keep your account and pay less on our next plan down.",
        "priority": 20,
        "params": {"target_plan_id": "next_cheaper"},
        "rules": [{"field": "reason", "op": "in", "values": ["too_expensive"]}],
    },
    {
        "kind": "custom",
        "title": "Tell us what's missing",
        "description": "Tell us which feature you need; we will let you know when it ships or "
        "help you find a way to do it today.",
        "priority": 20,
        "params": {"payload": {"action": "feature_request"}},
        "rules": [{"field": "reason", "op": "in", "values": ["missing_features"]}],
    },
    {
        "kind": "discount",
        "title": "25% off for the next 3 months",
        "description": "Thank you for being with us: stay and pay 25% less for 3 months.",
        "priority": 10,
        "params": {"percent": 25, "months": 3},
        "rules": [
            {"field": "tenure_days", "op": ">=", "value": 183},
            {"field": "health_tier", "op": "not_in", "values": ["critical"]},
            {
                "field": "accepted_offers_of_kind",
                "kind": "discount",
                "days": 365,
                "op": "<",
                "value": 1,
            },
        ],
    },
]
