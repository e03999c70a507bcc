import json
import logging

import httpx
import pytest

from app.config import Settings
from app.db import Database
from app.main import create_app
from app.observability import JsonFormatter
from app.tenants import keys
from tests.conftest import bearer


async def test_liveness_and_readiness(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready"}


async def test_request_id_is_echoed_or_generated(client: httpx.AsyncClient) -> None:
    echoed = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"
    generated = await client.get("/healthz", headers={"X-Request-ID": "bad id with spaces\n"})
    assert generated.headers["x-request-id"] != "bad id with spaces\n"
    assert len(generated.headers["x-request-id"]) == 32


async def test_metrics_count_requests_by_route_template_and_status(
    client: httpx.AsyncClient,
) -> None:
    await client.get("/healthz")
    await client.get("/healthz")
    await client.delete("/v1/api-keys/00000000-0000-0000-0000-000000000000")
    text = (await client.get("/metrics")).text
    assert 'holdfast_http_requests_total{method="GET",route="/healthz",status="200"} 2.0' in text
    assert (
        'holdfast_http_requests_total{method="DELETE",route="/v1/api-keys/{key_id}",'
        'status="401"} 1.0'
    ) in text
    assert "holdfast_http_request_duration_seconds_bucket" in text


async def test_access_log_is_one_json_line_with_request_id(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="holdfast.access")
    await client.get("/healthz", headers={"X-Request-ID": "log-me"})
    records = [r for r in caplog.records if r.name == "holdfast.access"]
    assert records
    line = JsonFormatter().format(records[-1])
    entry = json.loads(line)
    assert entry["route"] == "/healthz"
    assert entry["status"] == 200
    assert "duration_ms" in entry
    assert "\n" not in line


@pytest.fixture
async def unreachable_client(settings: Settings):  # type: ignore[no-untyped-def]
    # Nothing listens on port 1: every connection attempt is refused at once.
    database = Database.from_url("postgresql+asyncpg://postgres@127.0.0.1:1/none", settings)
    app = create_app(settings, database)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://holdfast.test"
    ) as c:
        yield c
    await database.dispose()


async def test_readiness_is_503_when_the_database_is_down(
    unreachable_client: httpx.AsyncClient,
) -> None:
    response = await unreachable_client.get("/readyz")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert int(response.headers["retry-after"]) > 0
    assert (await unreachable_client.get("/healthz")).status_code == 200


async def test_api_calls_are_503_not_500_when_the_database_is_down(
    unreachable_client: httpx.AsyncClient,
) -> None:
    response = await unreachable_client.get(
        "/v1/api-keys", headers=bearer(keys.generate_key().plaintext)
    )
    assert response.status_code == 503
    assert response.headers["retry-after"]
    body = response.json()
    assert body["status"] == 503
    assert "asyncpg" not in response.text and "127.0.0.1" not in response.text


async def test_openapi_declares_problem_responses(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    operation = spec["paths"]["/v1/api-keys"]["post"]
    for status in ("401", "403", "422", "503"):
        assert status in operation["responses"], status
        content = operation["responses"][status]["content"]
        assert "application/problem+json" in content
    assert "Problem" in spec["components"]["schemas"]
