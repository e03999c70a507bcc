"""Errors of the newer endpoints are problem+json without internals, and every response's
request id finds its log lines."""

import io
import json
import logging
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI

from app.errors import InvalidInput
from app.observability import JsonFormatter
from app.openapi import ValidationIssue
from tests.api.test_problems import assert_problem
from tests.conftest import TenantInfo, bearer, make_key


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    """The service's log lines, formatted when emitted (inside the request, where the request
    id is known), as production writes them."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(previous)


def lines_for(stream: io.StringIO, request_id: str) -> list[dict[str, object]]:
    entries = [json.loads(line) for line in stream.getvalue().splitlines()]
    return [entry for entry in entries if entry.get("request_id") == request_id]


async def test_request_ids_tie_responses_to_their_log_lines(
    json_logs: io.StringIO, app: FastAPI, tenant: TenantInfo
) -> None:
    async def explode() -> None:
        raise RuntimeError("boom")

    app.add_api_route("/explode", explode)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
        base_url="http://holdfast.test",
    ) as client:
        calls = [
            await client.get("/v1/customers/nobody", headers=tenant.headers),
            await client.post("/v1/events", json={"type": "nope"}, headers=tenant.headers),
            await client.get("/v1/audit-log", headers={"X-Request-ID": "client-chosen-id.1"}),
            await client.get("/explode"),
        ]
    assert [c.status_code for c in calls] == [404, 422, 401, 500]
    assert calls[2].headers["x-request-id"] == "client-chosen-id.1"
    ids = [c.headers["x-request-id"] for c in calls]
    assert len(set(ids)) == len(ids)
    for call in calls:
        lines = lines_for(json_logs, call.headers["x-request-id"])
        access = [line for line in lines if line["logger"] == "holdfast.access"]
        assert len(access) == 1, lines
        assert access[0]["status"] == call.status_code
        assert access[0]["path"] == call.request.url.path
    failure = lines_for(json_logs, ids[3])
    assert any(
        line["logger"] == "holdfast.errors" and "boom" in str(line["exc"]) for line in failure
    )
    assert "boom" not in calls[3].text


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/customers/nobody/export"),
        ("DELETE", "/v1/customers/nobody"),
        ("GET", "/v1/audit-log"),
    ],
)
async def test_privacy_endpoint_errors_are_problems_without_internals(
    client: httpx.AsyncClient, tenant: TenantInfo, method: str, path: str
) -> None:
    reader = await make_key(client, tenant, "read")
    assert_problem(await client.request(method, path), 401)
    assert_problem(await client.request(method, path, headers=bearer(reader)), 403)
    if "nobody" in path:
        assert_problem(await client.request(method, path, headers=tenant.headers), 404)
        bad = path.replace("nobody", "no%20body")
        assert_problem(await client.request(method, bad, headers=tenant.headers), 422)
    else:
        response = await client.request(
            method, path, params={"cursor": "%%%", "limit": 0}, headers=tenant.headers
        )
        body = assert_problem(response, 422)
        assert len(body["errors"]) == 2  # type: ignore[arg-type]


async def test_validation_issues_always_carry_their_documented_type(app: FastAPI) -> None:
    async def strict() -> None:
        raise InvalidInput("no", errors=[{"loc": ["query", "x"], "msg": "bad"}])

    app.add_api_route("/strict", strict)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://holdfast.test"
    ) as client:
        body = assert_problem(await client.get("/strict"), 422)
    assert body["errors"] == [{"type": "value_error", "loc": ["query", "x"], "msg": "bad"}]
    ValidationIssue.model_validate(body["errors"][0])  # type: ignore[index]


async def test_webhook_delivery_cursor_errors_match_the_schema(
    client: httpx.AsyncClient, tenant: TenantInfo
) -> None:
    created = await client.post(
        "/v1/webhooks",
        json={"url": "https://hooks.example.com/e", "event_types": ["*"]},
        headers=tenant.headers,
    )
    response = await client.get(
        f"/v1/webhooks/{created.json()['id']}/deliveries",
        params={"cursor": "bm9wZQ"},
        headers=tenant.headers,
    )
    body = assert_problem(response, 422)
    for issue in body["errors"]:  # type: ignore[attr-defined]
        ValidationIssue.model_validate(issue)
