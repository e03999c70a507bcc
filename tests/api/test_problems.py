import json

import httpx
from fastapi import FastAPI

from tests.conftest import TenantInfo

PROBLEM = "application/problem+json"
FORBIDDEN_WORDS = ("Traceback", "sqlalchemy", "asyncpg", "psycopg", "SELECT", 'File "')


def assert_problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert {"type", "title", "status", "detail"} <= body.keys()
    assert body["status"] == status
    for word in FORBIDDEN_WORDS:
        assert word not in response.text
    return body  # type: ignore[no-any-return]


async def test_unknown_route_is_a_404_problem(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/v1/nowhere"), 404)


async def test_wrong_method_is_a_405_problem(client: httpx.AsyncClient) -> None:
    assert_problem(await client.put("/healthz"), 405)


async def test_malformed_json_is_a_422_problem_with_errors(
    client: httpx.AsyncClient, tenant: TenantInfo
) -> None:
    response = await client.post(
        "/v1/api-keys",
        content=b"{not json",
        headers={**tenant.headers, "content-type": "application/json"},
    )
    body = assert_problem(response, 422)
    assert isinstance(body["errors"], list) and body["errors"]


async def test_declared_oversized_body_is_413(
    client: httpx.AsyncClient, tenant: TenantInfo, app: FastAPI
) -> None:
    limit = app.state.settings.max_body_bytes
    payload = json.dumps({"name": "x" * (limit + 10), "scopes": ["read"]})
    response = await client.post(
        "/v1/api-keys",
        content=payload,
        headers={**tenant.headers, "content-type": "application/json"},
    )
    assert_problem(response, 413)


async def test_chunked_oversized_body_without_length_is_413(
    client: httpx.AsyncClient, tenant: TenantInfo, app: FastAPI
) -> None:
    limit = app.state.settings.max_body_bytes

    async def chunks():  # type: ignore[no-untyped-def]
        yield b'{"name": "'
        for _ in range(limit // 65536 + 2):
            yield b"x" * 65536
        yield b'", "scopes": ["read"]}'

    response = await client.post(
        "/v1/api-keys",
        content=chunks(),
        headers={**tenant.headers, "content-type": "application/json"},
    )
    assert "content-length" not in response.request.headers
    assert_problem(response, 413)


async def test_unexpected_error_is_a_bare_500_problem(app: FastAPI, caplog) -> None:  # type: ignore[no-untyped-def]
    async def explode() -> None:
        raise RuntimeError("secret internal detail from sqlalchemy SELECT")

    app.add_api_route("/boom", explode)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
        base_url="http://holdfast.test",
    ) as c:
        response = await c.get("/boom", headers={"X-Request-ID": "trace-me-123"})
    body = assert_problem(response, 500)
    assert "secret internal detail" not in json.dumps(body)
    assert response.headers["x-request-id"] == "trace-me-123"
    logged = [r for r in caplog.records if r.name == "holdfast.errors"]
    assert logged and logged[0].exc_info is not None


async def test_body_that_is_not_utf8_is_a_422_problem(
    client: httpx.AsyncClient, tenant: TenantInfo
) -> None:
    response = await client.post(
        "/v1/api-keys",
        content=b"\xff\xfe\x00garbage",
        headers={**tenant.headers, "content-type": "application/json"},
    )
    body = assert_problem(response, 422)
    assert body["errors"][0]["loc"][0] == "body"  # type: ignore[index]


async def test_405_lists_every_method_of_the_path(client: httpx.AsyncClient) -> None:
    response = await client.request("OPTIONS", "/v1/api-keys")
    assert_problem(response, 405)
    assert response.headers["allow"] == "GET, POST"
