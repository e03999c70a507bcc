"""Ingest throughput: the HTTP API against what the database itself allows, side by side.

    python -m bench.ingest [--events 100000] [--batch 500] [--clients 4] [--rounds 4]
                           [--singles 4000] [--long-events 0] [--database-url URL]

One scratch database (an embedded PostgreSQL 16 in a temporary directory unless
``--database-url``), one ``holdfast serve`` subprocess, one tenant per path, the same events:

* **raw batch**: asyncpg straight to the database with no per-event Python work in the timed
  part (the typed arrays are built before the clock starts). One transaction per batch of
  ``--batch``: one statement inserts the events with ``unnest`` and ``ON CONFLICT`` on the
  idempotency key, upserts the touched customers' counters and first/last-seen times set-based,
  and adds the usage-day rollup. ``--clients`` connections.
* **http batch**: ``--clients`` concurrent clients posting ``/v1/events/batch`` with the same
  batches as JSON.

The two run interleaved in ``--rounds`` rounds (raw then HTTP on the same slice of batches),
so load from elsewhere on the machine hits both alike. Then, the same way, single events:
``POST /v1/events`` from 8 concurrent clients against a raw single-event transaction (insert +
customer upsert + usage rollup) on 8 connections. Also reported: latency p50/p99 of a batch
under load, the server's RSS while loaded, and (since health scoring left the request) the p99
lag from acknowledgement to materialised score from the server's ``/metrics``. With
``--long-events N`` a final HTTP-only run of N events samples the server's RSS to show whether
it grows.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy import make_url

from app.config import Settings
from app.db import make_engine, session_factory
from app.events.repository import EVENT_COLUMNS, event_columns
from app.events.schemas import EVENT_ADAPTER
from app.events.service import to_row
from app.onboarding import create_tenant
from bench.scratch import scratch_database

ROOT = Path(__file__).resolve().parent.parent
START = datetime(2026, 1, 1, tzinfo=UTC)


def synthetic_events(n: int, seed: int, prefix: str = "") -> list[dict[str, Any]]:
    """Realistic mix: a subscription per customer, then 86% usage and some lifecycle churn."""
    rnd = random.Random(seed)
    customers = max(1, n // 50)
    events: list[dict[str, Any]] = []
    for c in range(min(customers, n)):
        events.append(
            {
                "type": "purchase",
                "customer_id": f"{prefix}cus_{c}",
                "occurred_at": START.isoformat(),
                "amount": 4900,
                "currency": "USD",
                "mrr": 4900,
                "plan": "pro",
                "idempotency_key": f"{prefix}start-{c}",
            }
        )
    i = 0
    while len(events) < n:
        c = rnd.randrange(customers)
        when = (START + timedelta(minutes=rnd.randrange(90 * 24 * 60))).isoformat()
        roll = rnd.random()
        base = {
            "customer_id": f"{prefix}cus_{c}",
            "occurred_at": when,
            "idempotency_key": f"{prefix}e-{i}",
        }
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


def chunks(items: Sequence[Any], size: int) -> list[list[Any]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


async def run_parallel(
    items: Sequence[Any], workers: int, handle: Callable[[Any], Awaitable[None]]
) -> tuple[float, list[float]]:
    """Run ``handle`` over ``items`` with ``workers`` concurrent workers; wall time and the
    latency of each call."""
    queue: asyncio.Queue[Any] = asyncio.Queue()
    for item in items:
        queue.put_nowait(item)
    latencies: list[float] = []

    async def worker() -> None:
        while not queue.empty():
            item = queue.get_nowait()
            t0 = time.perf_counter()
            await handle(item)
            latencies.append(time.perf_counter() - t0)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(workers)))
    return time.perf_counter() - started, latencies


# -- the raw database path ------------------------------------------------------------------

_NAMES = ", ".join(name for name, _ in EVENT_COLUMNS)
_ARRAYS = ", ".join(f"${i}::{kind}[]" for i, (_, kind) in enumerate(EVENT_COLUMNS, start=3))
# Everything the database must do for a batch when no Python runs per event: store new events
# once, fold the commutative counters of their customers, add the usage days.
RAW_INGEST = f"""
WITH ins AS (
    INSERT INTO events (tenant_id, source, {_NAMES})
    SELECT $1, 'raw', {_NAMES} FROM unnest({_ARRAYS}) AS u({_NAMES})
    ORDER BY idempotency_key
    ON CONFLICT (tenant_id, idempotency_key) DO NOTHING
    RETURNING customer_id, type, occurred_at, quantity, amount
), cust AS (
    INSERT INTO customers (tenant_id, customer_id, first_seen_at, last_seen_at, event_count,
                           usage_events, usage_quantity, last_usage_at, purchase_count,
                           last_purchase_at, payment_failed_count, last_payment_failed_at,
                           updated_at)
    SELECT $1, customer_id, min(occurred_at), max(occurred_at), count(*),
           count(*) FILTER (WHERE type = 'usage'),
           coalesce(sum(coalesce(quantity, 1)) FILTER (WHERE type = 'usage'), 0),
           max(occurred_at) FILTER (WHERE type = 'usage'),
           count(*) FILTER (WHERE type = 'purchase'),
           max(occurred_at) FILTER (WHERE type = 'purchase'),
           count(*) FILTER (WHERE type = 'payment_failed'),
           max(occurred_at) FILTER (WHERE type = 'payment_failed'),
           $2::text::timestamptz
    FROM ins GROUP BY customer_id ORDER BY customer_id
    ON CONFLICT (tenant_id, customer_id) DO UPDATE SET
        first_seen_at = least(customers.first_seen_at, EXCLUDED.first_seen_at),
        last_seen_at = greatest(customers.last_seen_at, EXCLUDED.last_seen_at),
        event_count = customers.event_count + EXCLUDED.event_count,
        usage_events = customers.usage_events + EXCLUDED.usage_events,
        usage_quantity = customers.usage_quantity + EXCLUDED.usage_quantity,
        last_usage_at = greatest(customers.last_usage_at, EXCLUDED.last_usage_at),
        purchase_count = customers.purchase_count + EXCLUDED.purchase_count,
        last_purchase_at = greatest(customers.last_purchase_at, EXCLUDED.last_purchase_at),
        payment_failed_count = customers.payment_failed_count + EXCLUDED.payment_failed_count,
        last_payment_failed_at =
            greatest(customers.last_payment_failed_at, EXCLUDED.last_payment_failed_at),
        updated_at = EXCLUDED.updated_at
), days AS (
    INSERT INTO usage_daily (tenant_id, customer_id, day, quantity, events)
    SELECT $1, customer_id, (occurred_at AT TIME ZONE 'UTC')::date,
           sum(coalesce(quantity, 1)), count(*)
    FROM ins WHERE type = 'usage' GROUP BY 1, 2, 3 ORDER BY 2, 3
    ON CONFLICT (tenant_id, customer_id, day) DO UPDATE
    SET quantity = usage_daily.quantity + EXCLUDED.quantity,
        events = usage_daily.events + EXCLUDED.events
)
SELECT count(*) FROM ins
"""


def raw_arrays(events: Sequence[dict[str, Any]]) -> list[list[Any]]:
    """Typed column arrays of a batch (validation and hashing done here, before the clock)."""
    return event_columns([to_row(EVENT_ADAPTER.validate_python(e)) for e in events])


def asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def raw_run(
    pool: asyncpg.Pool, tenant_id: uuid.UUID, batches: list[list[list[Any]]], workers: int
) -> tuple[float, list[float]]:
    async def load(arrays: list[list[Any]]) -> None:
        async with pool.acquire() as conn, conn.transaction():
            await conn.fetchval(RAW_INGEST, tenant_id, datetime.now(UTC).isoformat(), *arrays)

    return await run_parallel(batches, workers, load)


# -- the HTTP path ----------------------------------------------------------------------------


class Server:
    """``holdfast serve`` in a subprocess, for the whole run."""

    def __init__(self, url: str, pool_size: int, workers: int) -> None:
        self.workers = workers
        self.port = 18000 + os.getpid() % 1000
        self.base = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "HOLDFAST_LOG_LEVEL": "WARNING",
            "HOLDFAST_DB_POOL_SIZE": str(pool_size),
            "HOLDFAST_RATE_LIMIT_PER_S": "0",
            "HOLDFAST_PORT": str(self.port),
        }
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "app.cli",
                "serve",
                "--port",
                str(self.port),
                "--workers",
                str(workers),
            ],
            env=env,
            cwd=ROOT,
        )

    async def ready(self) -> None:
        for _ in range(600):
            try:
                if httpx.get(f"{self.base}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
        raise RuntimeError("server did not start")

    def rss_mb(self) -> float:
        """Resident memory of the server: its process and, with workers, theirs."""
        import psutil

        try:
            root = psutil.Process(self.process.pid)
            tree = [root, *root.children(recursive=True)]
            return sum(p.memory_info().rss for p in tree) / 2**20
        except psutil.Error:
            return float("nan")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)

    def metrics(self) -> list[str]:
        """Each worker's metrics (a new connection per scrape lands on any worker: scraped
        often enough to see them all)."""
        return [httpx.get(f"{self.base}/metrics", timeout=10).text for _ in range(4 * self.workers)]


async def http_batches(
    client: httpx.AsyncClient, key: str, bodies: list[bytes], workers: int
) -> tuple[float, list[float]]:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    async def post(body: bytes) -> None:
        response = await client.post("/v1/events/batch", content=body, headers=headers)
        response.raise_for_status()
        assert response.json()["rejected"] == 0, response.text

    return await run_parallel(bodies, workers, post)


async def http_singles(
    client: httpx.AsyncClient, key: str, bodies: list[bytes], workers: int
) -> tuple[float, list[float]]:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    async def post(body: bytes) -> None:
        response = await client.post("/v1/events", content=body, headers=headers)
        assert response.status_code == 201, response.text

    return await run_parallel(bodies, workers, post)


def percentile(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def lag_quantile(metrics: str, q: float) -> float | None:
    """The ``q`` quantile of the freshness-lag histogram exposed by the server (upper bucket
    bound), or None when the server does not expose one."""
    buckets = [
        (float("inf") if m.group(1) == "+Inf" else float(m.group(1)), float(m.group(2)))
        for m in re.finditer(
            r'holdfast_health_freshness_lag_seconds_bucket\{le="([^"]+)"\} ([0-9.e+]+)', metrics
        )
    ]
    if not buckets or buckets[-1][1] == 0:
        return None
    total = buckets[-1][1]
    for bound, count in buckets:
        if count >= q * total:
            return bound
    return None


async def state_of(pool: asyncpg.Pool, tenant_id: uuid.UUID) -> tuple[Any, ...]:
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM events WHERE tenant_id = $1),"
            " sum(event_count), sum(usage_quantity), sum(purchase_count),"
            " (SELECT sum(quantity) FROM usage_daily WHERE tenant_id = $1)"
            " FROM customers WHERE tenant_id = $1",
            tenant_id,
        )
    return tuple(row)


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--singles", type=int, default=4000)
    parser.add_argument("--single-clients", type=int, default=8)
    parser.add_argument("--long-events", type=int, default=0)
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="server processes (holdfast serve --workers; default: one per core)",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    args = parser.parse_args()

    settings = Settings()
    async with scratch_database(args.database_url, settings) as url:
        engine = make_engine(url, settings)
        tenants: dict[str, Any] = {}
        async with session_factory(engine)() as session, session.begin():
            for name in ("raw", "http", "raw-single", "http-single", "long"):
                tenant, key = await create_tenant(session, f"bench-{name}")
                tenants[name] = (tenant.id, key.plaintext)
        await engine.dispose()

        events = synthetic_events(args.events, args.seed)
        batches = chunks(events, args.batch)
        singles = synthetic_events(args.singles, args.seed + 1, prefix="s")
        print(
            f"{len(events)} events in {len(batches)} batches of {args.batch}, {args.clients} "
            f"clients, {args.rounds} interleaved rounds; {len(singles)} single events, "
            f"{args.single_clients} clients; server: holdfast serve --workers {args.workers}"
        )
        raw_batches = [raw_arrays(batch) for batch in batches]
        raw_singles = [raw_arrays([e]) for e in singles]
        bodies = [json.dumps({"events": batch}).encode() for batch in batches]
        single_bodies = [json.dumps(e).encode() for e in singles]

        workers = max(args.clients, args.single_clients)
        pool = await asyncpg.create_pool(asyncpg_dsn(url), min_size=workers, max_size=workers)
        server = Server(url, pool_size=-(-workers // args.workers) + 2, workers=args.workers)
        try:
            await server.ready()
            async with httpx.AsyncClient(
                base_url=server.base, timeout=120, limits=httpx.Limits(max_connections=workers)
            ) as client:
                raw_s = http_s = 0.0
                latencies: list[float] = []
                rss: list[float] = []
                per_round = -(-len(batches) // args.rounds)
                for r in range(args.rounds):
                    part = slice(r * per_round, (r + 1) * per_round)
                    seconds, _ = await raw_run(
                        pool, tenants["raw"][0], raw_batches[part], args.clients
                    )
                    raw_s += seconds
                    sampler = asyncio.create_task(sample_rss(server, rss))
                    seconds, lat = await http_batches(
                        client, tenants["http"][1], bodies[part], args.clients
                    )
                    sampler.cancel()
                    http_s += seconds
                    latencies += lat

                raw1_s = http1_s = 0.0
                single_lat: list[float] = []
                per_round = -(-len(singles) // args.rounds)
                for r in range(args.rounds):
                    part = slice(r * per_round, (r + 1) * per_round)
                    seconds, _ = await raw_run(
                        pool, tenants["raw-single"][0], raw_singles[part], args.single_clients
                    )
                    raw1_s += seconds
                    seconds, lat = await http_singles(
                        client, tenants["http-single"][1], single_bodies[part], args.single_clients
                    )
                    http1_s += seconds
                    single_lat += lat

                await asyncio.sleep(3)  # let the scorer catch up before reading its lag
                metrics = server.metrics()

                long_rss: list[tuple[int, float]] = []
                if args.long_events:
                    long_rss = await long_run(server, client, tenants["long"][1], args)

            raw_state = await state_of(pool, tenants["raw"][0])
            http_state = await state_of(pool, tenants["http"][0])
            assert raw_state[0] == http_state[0] == len(events), (raw_state, http_state)
            assert raw_state == http_state, (raw_state, http_state)
        finally:
            server.stop()
            await pool.close()

        raw_rate, http_rate = len(events) / raw_s, len(events) / http_s
        raw1_rate, http1_rate = len(singles) / raw1_s, len(singles) / http1_s
        print(f"raw batch   (one statement, asyncpg):  {raw_rate:9.0f} events/s ({raw_s:.1f} s)")
        print(f"http batch  (POST /v1/events/batch):   {http_rate:9.0f} events/s ({http_s:.1f} s)")
        print(f"  ratio http/raw: {http_rate / raw_rate:.2f} (goal >= 0.50)")
        print(f"raw single  (one transaction each):    {raw1_rate:9.0f} events/s ({raw1_s:.1f} s)")
        print(
            f"http single (POST /v1/events):         {http1_rate:9.0f} events/s ({http1_s:.1f} s)"
        )
        print(f"  ratio http/raw: {http1_rate / raw1_rate:.2f} (goal >= 0.50)")
        ms = {
            f"{name}{p}": percentile(values, p) * 1000
            for name, values in (("b", latencies), ("s", single_lat))
            for p in (50, 99)
        }
        print(
            f"batch of {args.batch} latency under load: p50 {ms['b50']:.0f} ms, p99 "
            f"{ms['b99']:.0f} ms; single event p50 {ms['s50']:.1f} ms, p99 {ms['s99']:.1f} ms"
        )
        print(
            f"server RSS under batch load: median {statistics.median(rss):.0f} MB,"
            f" max {max(rss):.0f} MB"
        )
        lags = [lag_quantile(text, 0.99) for text in metrics]
        lag = max((value for value in lags if value is not None), default=None)
        print(
            "freshness lag (ack -> materialised score) p99: "
            + ("synchronous (scored in the request)" if lag is None else f"<= {lag:g} s")
        )
        if long_rss:
            print(
                "long run, server RSS by events sent: "
                + ", ".join(f"{n // 1000}k {mb:.0f} MB" for n, mb in long_rss)
            )
        print("raw and http stored every event once and folded to identical counters")


async def sample_rss(server: Server, into: list[float]) -> None:
    while True:
        into.append(server.rss_mb())
        await asyncio.sleep(0.5)


async def long_run(
    server: Server, client: httpx.AsyncClient, key: str, args: argparse.Namespace
) -> list[tuple[int, float]]:
    """``--long-events`` through HTTP in slices generated on the fly (the client holds one
    slice at a time); the server's RSS after each slice."""
    out: list[tuple[int, float]] = []
    step = 100_000
    sent = 0
    started = time.perf_counter()
    while sent < args.long_events:
        n = min(step, args.long_events - sent)
        events = synthetic_events(n, args.seed + 100 + sent, prefix=f"l{sent}-")
        bodies = [json.dumps({"events": b}).encode() for b in chunks(events, args.batch)]
        await http_batches(client, key, bodies, args.clients)
        sent += n
        out.append((sent, server.rss_mb()))
    rate = sent / (time.perf_counter() - started)
    print(f"long run: {sent} events over HTTP at {rate:.0f} events/s")
    return out


if __name__ == "__main__":
    asyncio.run(main())
