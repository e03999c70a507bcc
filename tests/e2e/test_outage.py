"""Database outages, on a PostgreSQL of the module's own that the tests stop, start and freeze.

* While PostgreSQL is down, every request gets a 503 problem with Retry-After, quickly.
* While it is frozen (accepts connections, answers nothing), no request hangs past the
  configured timeouts.
* Within 5 s of it coming back, requests succeed again (stale pooled connections are
  replaced, not served).
* Storms of failing requests and client disconnects next to healthy traffic leak no
  connection: no session is left idle in transaction and the pool returns to its size.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import text

from app.config import Settings
from app.db import Database, make_engine, session_factory
from app.main import create_app
from app.migrate import upgrade
from app.onboarding import create_tenant
from app.tenants import keys
from bench.postgres import ControllablePostgres
from tests.conftest import bearer, create_database
from tests.factories import event

pytestmark = pytest.mark.e2e

SETTINGS = Settings(
    database_url=None,
    db_pool_size=3,
    db_max_overflow=2,
    db_pool_timeout_s=1.0,
    db_connect_timeout_s=1.0,
    db_statement_timeout_ms=1000,
    retry_after_s=2,
    rate_limit_per_s=0,  # 503s come back faster than the default limit allows
)
# The longest a request may take while the database is unreachable or stalled: waiting for a
# pooled connection, or connecting, plus the driver's command timeout (statement timeout + 5 s),
# plus slack for a loaded machine.
COMMAND_TIMEOUT_S = SETTINGS.db_statement_timeout_ms / 1000 + 5
WORST_CASE_S = SETTINGS.db_pool_timeout_s + SETTINGS.db_connect_timeout_s + COMMAND_TIMEOUT_S + 2
RECOVERY_S = 5.0
APP_NAME = "holdfast"


@dataclass
class Outage:
    pg: ControllablePostgres
    url: str
    key: str


@pytest.fixture(scope="module")
def outage_pg() -> Iterator[Outage]:
    root = Path(tempfile.mkdtemp(prefix="hf-outage-"))
    pg = ControllablePostgres(root)
    pg.start_first()

    async def prepare() -> Outage:
        url = await create_database(pg.url(), "holdfast")
        engine = make_engine(url, SETTINGS)
        try:
            await upgrade(engine)
            async with session_factory(engine)() as session, session.begin():
                _, key = await create_tenant(session, "outage")
        finally:
            await engine.dispose()
        return Outage(pg, url, key.plaintext)

    try:
        yield asyncio.run(prepare())
    finally:
        pg.close()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
async def database(outage_pg: Outage) -> AsyncIterator[Database]:
    database = Database.from_url(outage_pg.url, SETTINGS)
    yield database
    await database.dispose()


@pytest.fixture
async def client(database: Database) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(SETTINGS, database)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://holdfast.test", timeout=60
    ) as c:
        yield c


def requests_mix(key: str) -> list[tuple[str, str, dict[str, Any]]]:
    auth = bearer(key)
    return [
        ("POST", "/v1/events", {"headers": auth, "json": event("usage", "cus_outage")}),
        ("GET", "/v1/customers/cus_outage", {"headers": auth}),
        (
            "POST",
            "/v1/events/batch",
            {"headers": auth, "json": {"events": [event("usage", "cus_outage", quantity=2)]}},
        ),
        ("GET", "/v1/api-keys", {"headers": auth}),
        ("GET", "/readyz", {}),
    ]


async def timed(
    client: httpx.AsyncClient, method: str, path: str, **kw: Any
) -> tuple[int, float, httpx.Response]:
    started = time.perf_counter()
    response = await client.request(method, path, **kw)
    return response.status_code, time.perf_counter() - started, response


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert int(response.headers["retry-after"]) == SETTINGS.retry_after_s
    for internal in ("asyncpg", "sqlalchemy", "Traceback", "pgdata"):
        assert internal not in response.text


async def wait_until_served(client: httpx.AsyncClient, key: str, since: float) -> float:
    """Seconds from ``since`` until an authenticated request succeeds."""
    while True:
        response = await client.get("/v1/api-keys", headers=bearer(key))
        if response.status_code == 200:
            return time.perf_counter() - since
        assert response.status_code == 503, response.text
        assert time.perf_counter() - since < 30, "never recovered"
        await asyncio.sleep(0.05)


async def test_database_down_is_503_then_recovers_within_5_s(
    client: httpx.AsyncClient, outage_pg: Outage
) -> None:
    mix = requests_mix(outage_pg.key)
    for method, path, kw in mix:  # warm the pool
        status, _, response = await timed(client, method, path, **kw)
        assert status in (200, 201), response.text

    outage_pg.pg.stop("fast")
    latencies = []
    try:
        deadline = time.perf_counter() + 2.0
        while time.perf_counter() < deadline:
            for method, path, kw in mix:
                _, latency, response = await timed(client, method, path, **kw)
                assert_unavailable(response)
                latencies.append(latency)
        concurrent = await asyncio.gather(*(timed(client, m, p, **kw) for m, p, kw in mix * 4))
        for _, latency, response in concurrent:
            assert_unavailable(response)
            latencies.append(latency)
    finally:
        outage_pg.pg.start()
    back = time.perf_counter()
    recovery = await wait_until_served(client, outage_pg.key, back)
    print(
        f"down: {len(latencies)} requests, all 503; latency median "
        f"{statistics.median(latencies) * 1000:.1f} ms, worst {max(latencies) * 1000:.1f} ms; "
        f"served again {recovery:.2f} s after PostgreSQL was back"
    )
    assert max(latencies) < WORST_CASE_S
    assert recovery < RECOVERY_S
    for method, path, kw in mix * 3:  # no stale connection left behind in the pool
        status, _, response = await timed(client, method, path, **kw)
        assert status in (200, 201), response.text


async def test_crash_and_restart_of_postgres_recovers_within_5_s(
    client: httpx.AsyncClient, outage_pg: Outage
) -> None:
    assert (await client.get("/v1/api-keys", headers=bearer(outage_pg.key))).status_code == 200
    outage_pg.pg.stop("immediate")
    assert_unavailable(await client.get("/v1/api-keys", headers=bearer(outage_pg.key)))
    outage_pg.pg.start()
    recovery = await wait_until_served(client, outage_pg.key, time.perf_counter())
    print(f"served again {recovery:.2f} s after PostgreSQL recovered from a crash")
    assert recovery < RECOVERY_S


async def test_a_stalled_database_never_hangs_a_request_past_the_timeouts(
    client: httpx.AsyncClient, outage_pg: Outage
) -> None:
    mix = requests_mix(outage_pg.key)
    for method, path, kw in mix:
        assert (await client.request(method, path, **kw)).status_code in (200, 201)

    pids = outage_pg.pg.freeze()
    try:
        results = await asyncio.wait_for(
            asyncio.gather(*(timed(client, m, p, **kw) for m, p, kw in mix * 2)),
            timeout=WORST_CASE_S + 5,
        )
    finally:
        outage_pg.pg.thaw(pids)
    latencies = [latency for _, latency, _ in results]
    print(
        f"stalled: {len(results)} concurrent requests, statuses "
        f"{sorted({status for status, _, _ in results})}, worst {max(latencies):.2f} s "
        f"(bound {WORST_CASE_S:.1f} s)"
    )
    for _, _, response in results:
        assert_unavailable(response)
    assert max(latencies) < WORST_CASE_S
    recovery = await wait_until_served(client, outage_pg.key, time.perf_counter())
    assert recovery < RECOVERY_S


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def serving(database: Database) -> AsyncIterator[str]:
    """The app on a real uvicorn server in this event loop (client disconnects are real)."""
    port = free_port()
    config = uvicorn.Config(
        create_app(STORM_SETTINGS, database),
        host="127.0.0.1",
        port=port,
        log_config=None,
        lifespan="off",
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110  (uvicorn offers no event to wait on)
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def disconnect_mid_body(port: int, key: str) -> None:
    """Announce a large body, send part of it, hang up."""
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"POST /v1/events/batch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Authorization: Bearer {key}\r\nContent-Length: 100000\r\n\r\n".encode()
        + b'{"events": ['
    )
    await writer.drain()
    await asyncio.sleep(0.02)
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()


async def disconnect_before_answer(port: int, key: str, n: int) -> None:
    """Send a whole batch that takes a while to store, hang up before the answer."""
    body = (
        b'{"events": ['
        + b",".join(
            f'{{"type": "usage", "customer_id": "cus_gone_{n}", '
            f'"occurred_at": "2026-01-01T00:00:00Z", "idempotency_key": "dc-{n}-{i}"}}'.encode()
            for i in range(300)
        )
        + b"]}"
    )
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"POST /v1/events/batch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Authorization: Bearer {key}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    await writer.drain()
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()


STORM_SETTINGS = SETTINGS.model_copy(
    update={"db_pool_size": 5, "db_max_overflow": 5, "db_pool_timeout_s": 10.0}
)


async def test_error_storms_and_disconnects_leak_no_connection(outage_pg: Outage) -> None:
    database = Database.from_url(outage_pg.url, STORM_SETTINGS)
    try:
        await storm(database, outage_pg)
    finally:
        await database.dispose()


async def storm(database: Database, outage_pg: Outage) -> None:
    key = outage_pg.key
    auth = bearer(key)
    unknown = bearer(keys.generate_key().plaintext)
    async with serving(database) as base_url, httpx.AsyncClient(base_url=base_url, timeout=30) as c:
        port = int(base_url.rsplit(":", 1)[1])
        failing = [
            *(c.get(f"/v1/customers/nobody-{i}", headers=auth) for i in range(100)),  # 404
            *(c.post("/v1/events", json={"type": "nope"}, headers=auth) for _ in range(60)),
            *(c.post("/v1/api-keys", json={"name": ""}, headers=auth) for _ in range(40)),
            *(c.get("/v1/api-keys", headers=unknown) for _ in range(60)),  # 401
            *(c.get("/v1/audit-log", params={"cursor": "bad"}, headers=auth) for _ in range(20)),
            *(
                c.post(
                    "/v1/events",
                    json=event("usage", "cus_clash", quantity=i % 2 + 1, idempotency_key="clash"),
                    headers=auth,
                )
                for i in range(20)
            ),  # the first is stored, the rest conflict after their insert: rolled back
            *(disconnect_mid_body(port, key) for _ in range(40)),
            *(disconnect_before_answer(port, key, n) for n in range(20)),
        ]
        healthy = [
            c.post("/v1/events", json=event("usage", f"cus_ok_{i}"), headers=auth)
            for i in range(60)
        ]
        started = time.perf_counter()
        outcomes = await asyncio.gather(*failing, *healthy, return_exceptions=True)
        storm_s = time.perf_counter() - started
        statuses = [o.status_code for o in outcomes if isinstance(o, httpx.Response)]
        errors = [o for o in outcomes if isinstance(o, BaseException)]
        assert errors == []
        assert 500 not in statuses
        healthy_statuses = statuses[-len(healthy) :]
        assert set(healthy_statuses) <= {201, 503}, healthy_statuses

        # Give disconnected requests a moment to finish on the server, then look.
        deadline = time.perf_counter() + 10
        pool = database.engine.pool
        while time.perf_counter() < deadline and pool.checkedout():  # type: ignore[attr-defined]  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        async with database.engine.connect() as probe:
            rows = (
                await probe.execute(
                    text(
                        "SELECT state, count(*) FROM pg_stat_activity"
                        " WHERE application_name = :app AND pid <> pg_backend_pid()"
                        " GROUP BY state"
                    ),
                    {"app": APP_NAME},
                )
            ).all()
        checked_out = pool.checkedout()  # type: ignore[attr-defined]
        idle = pool.checkedin()  # type: ignore[attr-defined]
        by_state = {state: n for state, n in rows}
        print(
            f"storm: {len(outcomes)} requests in {storm_s:.1f} s, statuses "
            f"{ {s: statuses.count(s) for s in sorted(set(statuses))} }; afterwards "
            f"connections by state {by_state}, pool checked out {checked_out}, idle {idle}"
        )
        assert "idle in transaction" not in by_state
        assert "idle in transaction (aborted)" not in by_state
        assert checked_out == 0
        assert idle <= STORM_SETTINGS.db_pool_size
        # The service still answers promptly on the same pool.
        for i in range(20):
            response = await c.post(
                "/v1/events", json=event("usage", f"cus_after_{i}"), headers=auth
            )
            assert response.status_code == 201, response.text
