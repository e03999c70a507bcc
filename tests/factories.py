"""Small factories for event payloads and a helper to post them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from app.health.freshness import drain_all

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(days: float = 0, hours: float = 0) -> str:
    return (T0 + timedelta(days=days, hours=hours)).isoformat().replace("+00:00", "Z")


def event(
    kind: str, customer: str = "cus_1", when: str | None = None, **fields: Any
) -> dict[str, Any]:
    return {"type": kind, "customer_id": customer, "occurred_at": when or at(), **fields}


def purchase(
    customer: str = "cus_1",
    when: str | None = None,
    *,
    amount: int = 4900,
    currency: str = "USD",
    **fields: Any,
) -> dict[str, Any]:
    return event("purchase", customer, when, amount=amount, currency=currency, **fields)


def subscribe(
    customer: str = "cus_1",
    when: str | None = None,
    mrr: int = 4900,
    plan: str = "pro",
    **fields: Any,
) -> dict[str, Any]:
    return purchase(customer, when, amount=mrr, mrr=mrr, plan=plan, **fields)


async def post_batch(
    client: httpx.AsyncClient, headers: dict[str, str], events: list[dict[str, Any]]
) -> dict[str, Any]:
    response = await client.post("/v1/events/batch", json={"events": events}, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def drain_scores(app: Any) -> None:
    """Materialise the health scores ingest left to the scorer (the background worker in a
    server; tests run no background tasks)."""
    await drain_all(app.state.database)
