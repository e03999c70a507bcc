"""Ingest throughput: HTTP through a running server vs straight into the tables.

    python -m bench.ingest [--events 200000] [--batch 500] [--clients 4] [--database-url URL]

Both paths load the same synthetic events (one tenant each) into the same PostgreSQL:

* **http**: ``holdfast serve`` in a subprocess; ``--clients`` concurrent httpx clients post
  ``/v1/events/batch`` — JSON parsing, validation, idempotency, folding, one transaction per batch.
* **direct**: asyncpg ``COPY`` into ``events``, then the same state work (the service's
  ``apply_new_events``: customer locks, re-fold, status history, usage rollup; and the health
  rescore of the touched customers), one transaction per batch, ``--clients`` concurrent
  connections. No validation and no idempotency check.

Prints events/s for both and their ratio (goal: http >= 50% of direct). Without
``--database-url`` it uses an embedded PostgreSQL in a temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.config import Settings  # noqa: E402
from app.customers.service import apply_new_events  # noqa: E402
from app.db import driver_connection, make_engine, session_factory  # noqa: E402
from app.events.repository import EVENT_COLUMNS, EventRow  # noqa: E402
from app.events.schemas import EVENT_ADAPTER  # noqa: E402
from app.events.service import to_row  # noqa: E402
from app.health.scoring import rescore  # noqa: E402
from app.tenants.service import create_tenant  # noqa: E402
from bench.scratch import scratch_database  # noqa: E402

START = datetime(2026, 1, 1, tzinfo=UTC)


def synthetic_events(n: int, seed: int) -> list[dict[str, Any]]:
    """Realistic mix: mostly usage, a subscription per customer, some lifecycle churn."""
    rnd = random.Random(seed)
    customers = max(1, n // 50)
    events: list[dict[str, Any]] = []
    for c in range(customers):
        events.append(
            {
                "type": "purchase",
                "customer_id": f"cus_{c}",
                "occurred_at": START.isoformat(),
                "amount": 4900,
                "currency": "USD",
                "mrr": 4900,
                "plan": "pro",
                "idempotency_key": f"start-{c}",
            }
        )
    i = 0
    while len(events) < n:
        c = rnd.randrange(customers)
        when = (START + timedelta(minutes=rnd.randrange(90 * 24 * 60))).isoformat()
        roll = rnd.random()
        base = {"customer_id": f"cus_{c}", "occurred_at": when, "idempotency_key": f"e-{i}"}
        if roll < 0.86:
            events.append(
                {
                    **base,
                    "type": "usage",
                    "quantity": rnd.randrange(1, 10),
                    "properties": {"feature": "search", "client": "web"},
                }
            )
        elif roll < 0.93:
            events.append(
                {**base, "type": "purchase", "amount": 4900, "currency": "USD", "mrr": 4900}
            )
        elif roll < 0.95:
            events.append({**base, "type": "payment_failed", "amount": 4900, "currency": "USD"})
        elif roll < 0.97:
            events.append({**base, "type": "feedback", "nps": rnd.randrange(11)})
        elif roll < 0.98:
            events.append({**base, "type": "plan_change", "plan": "team", "mrr": 9900})
        elif roll < 0.99:
            events.append({**base, "type": "pause"})
        else:
            events.append({**base, "type": "cancellation", "reason": "unused"})
        i += 1
    rnd.shuffle(events)
    return events


def chunks(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


async def run_parallel(batches: list[Any], clients: int, handle: Any) -> float:
    queue: asyncio.Queue[Any] = asyncio.Queue()
    for batch in batches:
        queue.put_nowait(batch)

    async def worker() -> None:
        while not queue.empty():
            await handle(queue.get_nowait())

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    return time.perf_counter() - started


async def bench_http(
    url: str, key: str, batches: list[list[dict[str, Any]]], clients: int
) -> float:
    port = 18000 + os.getpid() % 1000
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "HOLDFAST_LOG_LEVEL": "WARNING",
        "HOLDFAST_DB_POOL_SIZE": str(clients + 2),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port)], env=env, cwd=ROOT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
        bodies = [json.dumps({"events": batch}).encode() for batch in batches]
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        async with httpx.AsyncClient(
            base_url=base, timeout=120, limits=httpx.Limits(max_connections=clients)
        ) as client:

            async def post(body: bytes) -> None:
                response = await client.post("/v1/events/batch", content=body, headers=headers)
                response.raise_for_status()
                assert response.json()["rejected"] == 0, response.text

            return await run_parallel(bodies, clients, post)
    finally:
        server.terminate()
        server.wait(timeout=30)


async def bench_direct(
    url: str,
    tenant_id: uuid.UUID,
    batches: list[list[dict[str, Any]]],
    clients: int,
    settings: Settings,
) -> float:
    # Rows are prepared up front: this path measures the database work only.
    prepared: list[list[EventRow]] = [
        [to_row(EVENT_ADAPTER.validate_python(e)) for e in batch] for batch in batches
    ]
    engine = make_engine(url, settings, pool_size=clients + 2)
    sessions = session_factory(engine)
    columns = ["tenant_id", "source", *(name for name, _ in EVENT_COLUMNS)]

    async def load(rows: list[EventRow]) -> None:
        async with sessions() as session, session.begin():
            conn = await driver_connection(session)
            records = [
                (tenant_id, "bench", *(getattr(row, name) for name, _ in EVENT_COLUMNS))
                for row in rows
            ]
            await conn.copy_records_to_table("events", records=records, columns=columns)
            await apply_new_events(
                session, tenant_id, [(r.customer_id, r.fold_event()) for r in rows]
            )
            await rescore(session, tenant_id, sorted({r.customer_id for r in rows}))

    try:
        return await run_parallel(prepared, clients, load)
    finally:
        await engine.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    args = parser.parse_args()

    settings = Settings()
    async with scratch_database(args.database_url, settings) as url:
        engine = make_engine(url, settings)
        async with session_factory(engine)() as session, session.begin():
            http_tenant, http_key = await create_tenant(session, "bench-http")
            direct_tenant, _ = await create_tenant(session, "bench-direct")
        await engine.dispose()

        events = synthetic_events(args.events, args.seed)
        batches = chunks(events, args.batch)
        print(
            f"{len(events)} events, {len(batches)} batches of {args.batch}, {args.clients} clients"
        )

        direct_s = await bench_direct(url, direct_tenant.id, batches, args.clients, settings)
        http_s = await bench_http(url, http_key.plaintext, batches, args.clients)

        engine = make_engine(url, settings)
        async with engine.connect() as conn:
            counts = (
                await conn.execute(
                    text("SELECT tenant_id, count(*) FROM events GROUP BY tenant_id")
                )
            ).all()
            state = (
                await conn.execute(
                    text(
                        "SELECT tenant_id, sum(event_count), sum(usage_quantity), count(*) FILTER"
                        " (WHERE status = 'cancelled') FROM customers GROUP BY tenant_id"
                    )
                )
            ).all()
        await engine.dispose()
        by_tenant = {row[0]: row[1] for row in counts}
        assert by_tenant[http_tenant.id] == by_tenant[direct_tenant.id] == len(events), by_tenant
        folded = {row[0]: tuple(row[1:]) for row in state}
        assert folded[http_tenant.id] == folded[direct_tenant.id], folded

        direct_rate = len(events) / direct_s
        http_rate = len(events) / http_s
        print(f"direct (COPY + state upserts): {direct_rate:10.0f} events/s  ({direct_s:.1f} s)")
        print(f"http   (POST /v1/events/batch): {http_rate:10.0f} events/s  ({http_s:.1f} s)")
        print(f"ratio http/direct: {http_rate / direct_rate:.2f} (goal >= 0.50)")
        print("both paths stored every event once and folded to identical customer totals")


if __name__ == "__main__":
    asyncio.run(main())
