"""Per-API-key rate limits: RateLimit headers on every authenticated response, 429 with
Retry-After past the limit, and one tenant's flood does not slow another tenant down."""

import asyncio
import statistics
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.config import Settings
from app.db import Database, session_factory
from app.main import create_app
from app.tenants import keys
from tests.conftest import Committed, TenantInfo, bearer

PROBLEM = "application/problem+json"


def limited(settings: Settings, rate: float, burst: int) -> Settings:
    return settings.model_copy(update={"rate_limit_per_s": rate, "rate_limit_burst": burst})


@pytest.fixture
async def slow_client(
    conn: AsyncConnection, engine: AsyncEngine, settings: Settings
) -> AsyncIterator[httpx.AsyncClient]:
    """Five requests at once, then one every two seconds, per key."""
    app = create_app(limited(settings, 0.5, 5), Database(engine, session_factory(conn)))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://holdfast.test"
    ) as client:
        yield client


def rate_headers(response: httpx.Response) -> tuple[int, int, int]:
    return (
        int(response.headers["ratelimit-limit"]),
        int(response.headers["ratelimit-remaining"]),
        int(response.headers["ratelimit-reset"]),
    )


async def test_every_authenticated_response_carries_the_ratelimit_headers(
    slow_client: httpx.AsyncClient, tenant: TenantInfo
) -> None:
    responses = [
        await slow_client.get("/v1/plans", headers=tenant.headers),
        await slow_client.get("/v1/customers/nobody", headers=tenant.headers),
        await slow_client.post("/v1/api-keys", json={}, headers=tenant.headers),
    ]
    assert [r.status_code for r in responses] == [200, 404, 422]
    assert [rate_headers(r)[:2] for r in responses] == [(5, 4), (5, 3), (5, 2)]
    assert all(r.headers["ratelimit-policy"] == "5;w=10" for r in responses)
    assert 0 < rate_headers(responses[-1])[2] <= 10

    unknown = keys.generate_key().plaintext  # well-formed, not a key: limited all the same
    refused = await slow_client.get("/v1/plans", headers=bearer(unknown))
    assert refused.status_code == 401
    assert rate_headers(refused)[:2] == (5, 4)


async def test_past_the_limit_a_key_gets_429_with_retry_after(
    slow_client: httpx.AsyncClient, tenant: TenantInfo
) -> None:
    statuses = [
        (await slow_client.get("/v1/plans", headers=tenant.headers)).status_code for _ in range(5)
    ]
    assert statuses == [200] * 5
    refused = await slow_client.get("/v1/plans", headers=tenant.headers)
    assert refused.status_code == 429
    assert refused.headers["content-type"] == PROBLEM
    body = refused.json()
    assert body["status"] == 429
    assert body["type"].endswith("/rate-limited")
    assert int(refused.headers["retry-after"]) == 2  # one token per 2 s
    assert rate_headers(refused)[:2] == (5, 0)
    assert refused.headers["x-request-id"]

    # Unauthenticated probes are never limited, whatever header they carry.
    for _ in range(3):
        probe = await slow_client.get("/healthz", headers=tenant.headers)
        assert probe.status_code == 200
        assert "ratelimit-limit" not in probe.headers


async def test_retry_after_is_honest(
    conn: AsyncConnection, engine: AsyncEngine, settings: Settings, tenant: TenantInfo
) -> None:
    app = create_app(limited(settings, 4, 1), Database(engine, session_factory(conn)))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://holdfast.test"
    ) as client:
        assert (await client.get("/v1/plans", headers=tenant.headers)).status_code == 200
        refused = await client.get("/v1/plans", headers=tenant.headers)
        assert refused.status_code == 429
        await asyncio.sleep(int(refused.headers["retry-after"]))
        assert (await client.get("/v1/plans", headers=tenant.headers)).status_code == 200


async def test_zero_disables_the_limit(
    conn: AsyncConnection, engine: AsyncEngine, settings: Settings, tenant: TenantInfo
) -> None:
    app = create_app(limited(settings, 0, 1), Database(engine, session_factory(conn)))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://holdfast.test"
    ) as client:
        for _ in range(5):
            response = await client.get("/v1/plans", headers=tenant.headers)
            assert response.status_code == 200
            assert "ratelimit-limit" not in response.headers


async def test_one_tenants_flood_does_not_starve_another(committed: Committed) -> None:
    flooder = await committed.tenant("flooder")
    neighbour = await committed.tenant("neighbour")
    app = create_app(limited(committed.settings, 20, 20), committed.database)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://holdfast.test"
    ) as client:
        stop = asyncio.Event()
        flood_statuses: list[int] = []

        async def flood() -> None:
            while not stop.is_set():
                batch = await asyncio.gather(
                    *(client.get("/v1/plans", headers=flooder.headers) for _ in range(10))
                )
                flood_statuses.extend(r.status_code for r in batch)

        async def neighbour_calls(n: int) -> list[tuple[int, float]]:
            out = []
            for _ in range(n):
                started = time.perf_counter()
                response = await client.get("/v1/plans", headers=neighbour.headers)
                out.append((response.status_code, time.perf_counter() - started))
                await asyncio.sleep(0.06)  # ~15/s: inside its own limit
            return out

        quiet = sorted(latency for _, latency in await neighbour_calls(10))
        flooding = [asyncio.create_task(flood()) for _ in range(3)]
        await asyncio.sleep(0.2)
        results = await neighbour_calls(30)
        stop.set()
        await asyncio.gather(*flooding)

    refused = flood_statuses.count(429)
    served = flood_statuses.count(200)
    latencies = sorted(latency for _, latency in results)
    print(
        f"flood: {len(flood_statuses)} requests, {served} served, {refused} refused; "
        f"neighbour: median {statistics.median(latencies) * 1000:.1f} ms, "
        f"max {latencies[-1] * 1000:.1f} ms "
        f"(alone: median {statistics.median(quiet) * 1000:.1f} ms)"
    )
    assert set(flood_statuses) <= {200, 429}
    assert refused > served  # the flooder is held to its limit ...
    assert [status for status, _ in results] == [200] * 30  # ... its neighbour is never refused
    assert statistics.median(latencies) < 0.25
    assert latencies[-1] < 2.0


def test_settings_reject_nonsense_limits() -> None:
    for bad in ({"rate_limit_per_s": -1}, {"rate_limit_burst": 0}):
        with pytest.raises(ValueError, match="rate_limit"):
            Settings(database_url=None, **bad)  # type: ignore[arg-type]
