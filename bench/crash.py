"""Acknowledged means durable: post events while crashing the server and PostgreSQL, then audit.

    python -m bench.crash [--seconds 40] [--clients 4] [--broken ack-before-commit|skip-fold]

A throwaway PostgreSQL (bench.postgres, Unix socket only) and ``holdfast serve`` on loopback.
``--clients`` concurrent clients post single events and batches (1-50 events, each with an
idempotency key and a unique ``properties.n``) for a few shared customers, and log every
event as

* acknowledged: a 2xx whose item status is accepted or duplicate,
* rejected: a 4xx, or an item the batch reported rejected (the load includes invalid events),
* unknown: a timeout, a connection error or a 5xx.

Clients retry about half of their unknown requests later, unchanged (same keys, same
content), which exercises idempotency across crashes. Meanwhile the faults run, one after the
other: SIGKILL of the server and a restart; PostgreSQL stopped (fast shutdown) and started; a
PostgreSQL crash (immediate shutdown, WAL recovery) and start.

Afterwards, read straight from the database:

1. every acknowledged event is stored exactly once (by content: its ``n``),
2. no rejected event is stored, and no unknown one more than once,
3. nothing is stored that was never sent,
4. every customer's counters equal a recount from its raw events, and its status, plan and
   price equal a fold of those events (``app.customers.fold``), status history included,
5. the daily usage rollup equals the raw usage by customer and day.

Exit status 0 when all hold. ``--broken`` runs a deliberately broken server (bench/broken_app.py)
and must exit 1: ``ack-before-commit`` answers before its transaction commits (acknowledged
events die with the crash); ``skip-fold`` stores some events without updating their customer.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.customers.fold import FoldEvent, fold_lifecycle  # noqa: E402
from bench.postgres import ControllablePostgres  # noqa: E402

CUSTOMERS = [f"cus_{i}" for i in range(12)]
START = datetime(2026, 1, 1, tzinfo=UTC)
REQUEST_TIMEOUT_S = 5.0


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class HoldfastProcess:
    """``holdfast serve`` (or the broken variant) as a subprocess we can SIGKILL."""

    def __init__(self, database_url: str, log_path: Path, broken: str | None) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.env = {
            **{
                k: v
                for k, v in os.environ.items()
                if k not in {"DATABASE_URL", "HOLDFAST_DATABASE_URL", "TEST_DATABASE_URL"}
            },
            "DATABASE_URL": database_url,
            "HOLDFAST_WEBHOOK_WORKER_ENABLED": "false",
            "HOLDFAST_RATE_LIMIT_PER_S": "0",
            "HOLDFAST_DB_CONNECT_TIMEOUT_S": "2",
            "HOLDFAST_DB_POOL_TIMEOUT_S": "2",
            "HOLDFAST_DB_STATEMENT_TIMEOUT_MS": "4000",
            "HOLDFAST_RETRY_AFTER_S": "1",
        }
        module = ["-m", "bench.broken_app", broken] if broken else ["-m", "app.cli"]
        self.command = [sys.executable, *module, "serve", "--port", str(self.port)]
        self.process: subprocess.Popen[bytes] | None = None
        self.restarts = 0

    def start(self) -> float:
        started = time.perf_counter()
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command, stdout=log, stderr=subprocess.STDOUT, env=self.env, cwd=ROOT
            )
        while time.perf_counter() - started < 60:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited:\n{self.log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.base_url}/readyz", timeout=1).status_code == 200:
                    return time.perf_counter() - started
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError("server not ready in 60 s")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass
class Ledger:
    """What the clients were told about every event they sent, by its ``n``."""

    sent: dict[int, dict[str, Any]] = field(default_factory=dict)
    acknowledged: set[int] = field(default_factory=set)
    rejected: set[int] = field(default_factory=set)
    unknown: set[int] = field(default_factory=set)
    requests: Counter[str] = field(default_factory=Counter)
    invalid: set[int] = field(default_factory=set)

    def settle(self, n: int, outcome: str) -> None:
        # The strongest answer wins: an unknown request retried and acknowledged is acknowledged.
        if outcome == "acknowledged":
            self.acknowledged.add(n)
            self.unknown.discard(n)
        elif outcome == "rejected":
            self.rejected.add(n)
            self.unknown.discard(n)
        elif n not in self.acknowledged and n not in self.rejected:
            self.unknown.add(n)


class Load:
    def __init__(self, base_url: str, key: str, clients: int, seed: int) -> None:
        self.base_url = base_url
        self.key = key
        self.clients = clients
        self.rnd = random.Random(seed)
        self.ledger = Ledger()
        self.next_n = 0
        self.stop = asyncio.Event()

    def make_event(self, client: int) -> dict[str, Any]:
        n = self.next_n
        self.next_n += 1
        rnd = self.rnd
        customer = rnd.choice(CUSTOMERS)
        when = (START + timedelta(minutes=rnd.randrange(60 * 24 * 60))).isoformat()
        roll = rnd.random()
        body: dict[str, Any] = {
            "idempotency_key": f"crash-{client}-{n}",
            "customer_id": customer,
            "occurred_at": when,
            "properties": {"n": n},
        }
        if roll < 0.04:
            body.update(type="usage", quantity=-1)  # invalid: rejected, never stored
            self.ledger.invalid.add(n)
        elif roll < 0.70:
            body.update(type="usage", quantity=rnd.randrange(1, 6), feature="export")
        elif roll < 0.80:
            body.update(
                type="purchase",
                amount=rnd.randrange(100, 9000),
                currency="USD",
                plan="pro",
                mrr=4900,
            )
        elif roll < 0.85:
            body.update(type="payment_failed", amount=4900, currency="USD")
        elif roll < 0.90:
            body.update(
                type="plan_change", plan=rnd.choice(["basic", "pro"]), mrr=rnd.choice([1900, 4900])
            )
        elif roll < 0.93:
            body.update(type="cancellation", reason="too_expensive")
        elif roll < 0.96:
            body.update(type="resume")
        else:
            body.update(type="feedback", nps=rnd.randrange(11))
        self.ledger.sent[n] = body
        return body

    async def post(
        self, client: httpx.AsyncClient, events: list[dict[str, Any]], single: bool
    ) -> bool:
        """Send and record; True when the outcome is unknown (worth a retry)."""
        ns = [e["properties"]["n"] for e in events]
        try:
            if single:
                response = await client.post("/v1/events", json=events[0])
            else:
                response = await client.post("/v1/events/batch", json={"events": events})
        except httpx.HTTPError:
            self.ledger.requests["unknown"] += 1
            for n in ns:
                self.ledger.settle(n, "unknown")
            return True
        status = response.status_code
        if status >= 500:
            self.ledger.requests[f"unknown {status}"] += 1
            for n in ns:
                self.ledger.settle(n, "unknown")
            return True
        if status >= 400:
            self.ledger.requests[f"rejected {status}"] += 1
            for n in ns:
                self.ledger.settle(n, "rejected")
            return False
        self.ledger.requests[f"acknowledged {status}"] += 1
        if single:
            self.ledger.settle(ns[0], "acknowledged")
            return False
        for item in response.json()["results"]:
            n = ns[item["index"]]
            self.ledger.settle(n, "rejected" if item["status"] == "rejected" else "acknowledged")
        return False

    async def client_loop(self, index: int) -> None:
        pending_retries: list[tuple[list[dict[str, Any]], bool]] = []
        async with httpx.AsyncClient(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {self.key}"},
            timeout=REQUEST_TIMEOUT_S,
        ) as client:
            while not self.stop.is_set():
                if pending_retries and self.rnd.random() < 0.3:
                    events, single = pending_retries.pop(0)
                else:
                    single = self.rnd.random() < 0.35
                    size = 1 if single else self.rnd.randrange(1, 51)
                    events = [self.make_event(index) for _ in range(size)]
                unknown = await self.post(client, events, single)
                if unknown:
                    if self.rnd.random() < 0.5:
                        pending_retries.append((events, single))
                    await asyncio.sleep(0.1)  # the server or database is away: back off a little

    async def run(self) -> None:
        await asyncio.gather(*(self.client_loop(i) for i in range(self.clients)))


@dataclass
class Audit:
    failures: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)

    def check(self, ok: bool, message: str) -> None:
        if not ok:
            self.failures.append(message)


async def audit(database_url: str, ledger: Ledger) -> Audit:
    result = Audit()
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        rows = await conn.fetch(
            "SELECT id, idempotency_key, customer_id, type, occurred_at, amount, currency, plan,"
            " mrr, quantity, reason, effective_at, resume_at, nps,"
            " (properties->>'n')::bigint AS n FROM events"
        )
        stored = Counter(row["n"] for row in rows)
        acked, rejected, unknown = ledger.acknowledged, ledger.rejected, ledger.unknown
        missing = sorted(n for n in acked if stored[n] == 0)
        doubled = sorted(n for n, count in stored.items() if count > 1)
        stored_rejected = sorted(n for n in rejected if stored[n])
        stored_unknown = sum(1 for n in unknown if stored[n])
        never_sent = sorted(n for n in stored if n not in ledger.sent)
        result.check(
            not missing, f"{len(missing)} acknowledged events are not stored: {missing[:10]}"
        )
        result.check(
            not doubled, f"{len(doubled)} events are stored more than once: {doubled[:10]}"
        )
        result.check(not stored_rejected, f"rejected events are stored: {stored_rejected[:10]}")
        result.check(not never_sent, f"events stored that were never sent: {never_sent[:10]}")
        result.check(
            ledger.invalid <= rejected | unknown,
            "an invalid event was acknowledged",
        )

        counters = await conn.fetch("""
            WITH recount AS (
              SELECT customer_id,
                     count(*) AS event_count,
                     count(*) FILTER (WHERE type = 'usage') AS usage_events,
                     coalesce(sum(coalesce(quantity, 1)) FILTER (WHERE type = 'usage'), 0)
                       AS usage_quantity,
                     count(*) FILTER (WHERE type = 'purchase') AS purchase_count,
                     count(*) FILTER (WHERE type = 'payment_failed') AS payment_failed_count,
                     min(occurred_at) AS first_seen_at, max(occurred_at) AS last_seen_at
              FROM events GROUP BY customer_id),
            -- revenue per currency, as text ("EUR:100,USD:4900"): stored vs recounted
            revenue_recount AS (
              SELECT customer_id, string_agg(currency || ':' || total, ',' ORDER BY currency)
                       AS revenue
              FROM (SELECT customer_id, currency, sum(coalesce(amount, 0)) AS total
                    FROM events WHERE type = 'purchase' AND currency IS NOT NULL
                    GROUP BY 1, 2) per_currency
              GROUP BY 1),
            revenue_stored AS (
              SELECT customer_id, string_agg(currency || ':' || amount, ',' ORDER BY currency)
                       AS revenue
              FROM customer_revenue GROUP BY 1)
            SELECT coalesce(c.customer_id, r.customer_id) AS customer_id,
                   row(c.event_count, c.usage_events, c.usage_quantity, c.purchase_count,
                       rs.revenue, c.payment_failed_count, c.first_seen_at,
                       c.last_seen_at)::text AS stored,
                   row(r.event_count, r.usage_events, r.usage_quantity, r.purchase_count,
                       rr.revenue, r.payment_failed_count, r.first_seen_at,
                       r.last_seen_at)::text AS recounted
            FROM customers c
            FULL JOIN recount r ON c.customer_id = r.customer_id
            LEFT JOIN revenue_stored rs ON rs.customer_id = c.customer_id
            LEFT JOIN revenue_recount rr ON rr.customer_id = r.customer_id
        """)
        wrong = [r for r in counters if r["stored"] != r["recounted"]]
        result.check(
            not wrong,
            f"{len(wrong)} customers' counters differ from a recount: "
            + "; ".join(
                f"{r['customer_id']}: {r['stored']} vs {r['recounted']}" for r in wrong[:3]
            ),
        )

        usage = await conn.fetch("""
            WITH raw AS (
              SELECT customer_id, (occurred_at AT TIME ZONE 'UTC')::date AS day,
                     sum(coalesce(quantity, 1)) AS quantity, count(*) AS events
              FROM events WHERE type = 'usage' GROUP BY 1, 2)
            SELECT coalesce(u.customer_id, raw.customer_id) AS customer_id,
                   coalesce(u.day, raw.day) AS day,
                   u.quantity AS rolled, raw.quantity AS raw, u.events AS rolled_events,
                   raw.events AS raw_events
            FROM usage_daily u FULL JOIN raw ON u.customer_id = raw.customer_id AND u.day = raw.day
            WHERE u.quantity IS DISTINCT FROM raw.quantity OR u.events IS DISTINCT FROM raw.events
        """)
        result.check(not usage, f"{len(usage)} daily usage rows differ from the raw usage")

        states = {
            r["customer_id"]: r
            for r in await conn.fetch("SELECT customer_id, status, plan, plan_mrr FROM customers")
        }
        history = await conn.fetch(
            "SELECT customer_id, effective_at, seq, kind, status, mrr"
            " FROM customer_status_changes ORDER BY customer_id, effective_at, seq"
        )
        by_customer: dict[str, list[FoldEvent]] = {}
        for r in rows:
            by_customer.setdefault(r["customer_id"], []).append(
                FoldEvent(
                    id=r["id"],
                    key=r["idempotency_key"],
                    type=r["type"],
                    occurred_at=r["occurred_at"],
                    amount=r["amount"],
                    currency=r["currency"],
                    plan=r["plan"],
                    mrr=r["mrr"],
                    quantity=r["quantity"],
                    reason=r["reason"],
                    effective_at=r["effective_at"],
                    resume_at=r["resume_at"],
                    nps=r["nps"],
                )
            )
        folded_wrong = []
        for customer_id, events in by_customer.items():
            state, changes = fold_lifecycle(events)
            row = states.get(customer_id)
            expected_changes = [(c.effective_at, c.seq, c.kind, c.status, c.mrr) for c in changes]
            got_changes = [
                (h["effective_at"], h["seq"], h["kind"], h["status"], h["mrr"])
                for h in history
                if h["customer_id"] == customer_id
            ]
            if (
                row is None
                or (row["status"], row["plan"], row["plan_mrr"])
                != (state.status, state.plan, state.plan_mrr)
                or got_changes != expected_changes
            ):
                folded_wrong.append(customer_id)
        result.check(
            not folded_wrong,
            f"{len(folded_wrong)} customers' state differs from a fold of their events",
        )
        result.figures.update(
            events_sent=len(ledger.sent),
            acknowledged=len(acked),
            rejected=len(rejected),
            unknown=len(unknown),
            unknown_but_stored=stored_unknown,
            stored=len(rows),
            customers=len(states),
            requests=dict(sorted(ledger.requests.items())),
        )
    finally:
        await conn.close()
    return result


async def create_database(pg: ControllablePostgres, name: str) -> str:
    conn = await asyncpg.connect(pg.url().replace("postgresql+asyncpg", "postgresql"))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return pg.url(name)


def create_tenant(database_url: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "TEST_DATABASE_URL"}
    env["DATABASE_URL"] = database_url
    out = subprocess.run(
        [sys.executable, "-m", "app.cli", "create-tenant", "crash", "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=True,
        timeout=120,
    )
    key: str = json.loads(out.stdout)["api_key"]
    return key


async def inject_faults(
    seconds: float,
    faults: list[str],
    server: HoldfastProcess,
    pg: ControllablePostgres,
    log: list[str],
) -> None:
    """Spread the faults over the run; each completes (server back up) before the next."""
    gap = seconds / (len(faults) + 1)
    started = time.perf_counter()
    for index, fault in enumerate(faults, 1):
        await asyncio.sleep(max(0.0, started + gap * index - time.perf_counter()))
        at = time.perf_counter() - started
        if fault == "kill":
            server.kill()
            up = await asyncio.to_thread(server.start)
            log.append(f"{at:5.1f} s  SIGKILL server; restarted and ready in {up:.2f} s")
        elif fault in ("pg-stop", "pg-crash"):
            mode = "fast" if fault == "pg-stop" else "immediate"
            await asyncio.to_thread(pg.stop, mode)
            await asyncio.sleep(1.5)
            up = await asyncio.to_thread(pg.start)
            log.append(f"{at:5.1f} s  PostgreSQL {mode} shutdown for 1.5 s; back in {up:.2f} s")
        else:
            raise ValueError(fault)


@contextmanager
def workdir(keep: bool) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="hf-crash-"))
    try:
        yield path
    finally:
        if not keep:
            shutil.rmtree(path, ignore_errors=True)


async def run(
    seconds: float = 40,
    clients: int = 4,
    broken: str | None = None,
    faults: tuple[str, ...] = ("kill", "pg-stop", "pg-crash"),
    seed: int = 1,
    keep: bool = False,
    out: Any = sys.stdout,
) -> Audit:
    with workdir(keep) as work:
        pg = ControllablePostgres(work / "pg")
        server: HoldfastProcess | None = None
        try:
            await asyncio.to_thread(pg.start_first)
            url = await create_database(pg, "holdfast")
            key = await asyncio.to_thread(create_tenant, url)
            server = HoldfastProcess(url, work / "serve.log", broken)
            await asyncio.to_thread(server.start)
            load = Load(server.base_url, key, clients, seed)
            log: list[str] = []
            began = time.perf_counter()
            load_task = asyncio.create_task(load.run())
            await inject_faults(seconds, list(faults), server, pg, log)
            await asyncio.sleep(max(0.0, began + seconds - time.perf_counter()))
            load.stop.set()
            await load_task
            elapsed = time.perf_counter() - began
            server.stop()
            result = await audit(url, load.ledger)
        finally:
            if server is not None:
                server.kill()
            pg.close()
        result.figures["seconds"] = round(elapsed, 1)
        result.figures["acknowledged_per_s"] = round(len(load.ledger.acknowledged) / elapsed)
        print(
            f"crash run: {seconds:.0f} s, {clients} clients, build: {broken or 'correct'}", file=out
        )
        for line in log:
            print(f"  {line}", file=out)
        for name, value in result.figures.items():
            print(f"  {name}: {value}", file=out)
        if result.failures:
            print("FAILED:", file=out)
            for failure in result.failures:
                print(f"  - {failure}", file=out)
        else:
            print("OK: every acknowledged event stored once, counters equal a recount", file=out)
        return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=40)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--broken", choices=["ack-before-commit", "skip-fold"], default=None)
    parser.add_argument(
        "--faults", default="kill,pg-stop,pg-crash", help="comma-separated, in order"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    result = asyncio.run(
        run(
            args.seconds,
            args.clients,
            args.broken,
            tuple(f for f in args.faults.split(",") if f),
            args.seed,
            args.keep,
        )
    )
    return 1 if result.failures else 0


if __name__ == "__main__":
    sys.exit(main())
