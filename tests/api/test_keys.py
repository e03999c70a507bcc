"""API keys: never in the logs, compared in constant time, rotated without downtime, last use
recorded at most once a minute. (Hashing at rest: test_auth.py.)"""

import hmac
import io
import logging
from collections.abc import Iterator
from datetime import datetime, timedelta

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.observability import JsonFormatter
from app.tenants import keys
from tests.conftest import TenantInfo, bearer, make_key
from tests.factories import event


@pytest.fixture
def all_logs() -> Iterator[io.StringIO]:
    """Every log line any logger emits during the test, at DEBUG, as the service formats it
    (including SQL statements and their parameters)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    names = ["", "sqlalchemy.engine", "holdfast", "uvicorn"]
    previous = {name: logging.getLogger(name).level for name in names}
    root.addHandler(handler)
    for name in names:
        logging.getLogger(name).setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    for name, level in previous.items():
        logging.getLogger(name).setLevel(level)


async def test_keys_and_their_secrets_never_reach_the_logs(
    all_logs: io.StringIO, client: httpx.AsyncClient, tenant: TenantInfo
) -> None:
    writer = await make_key(client, tenant, "events:write")
    reader = await make_key(client, tenant, "read")
    revoked = await make_key(client, tenant, "read")
    revoked_id = next(
        k["id"]
        for k in (await client.get("/v1/api-keys", headers=tenant.headers)).json()["items"]
        if k["prefix"] == keys.parse_prefix(revoked)
    )
    assert (await client.delete(f"/v1/api-keys/{revoked_id}", headers=tenant.headers)).status_code
    forged = reader[:-6] + "AAAAAA"
    unknown = keys.generate_key().plaintext

    statuses = []
    for key, method, path, body in [
        (writer, "POST", "/v1/events", event("usage", "cus_log")),
        (writer, "POST", "/v1/events", {"type": "usage"}),
        (writer, "GET", "/v1/customers/cus_log", None),
        (reader, "GET", "/v1/customers/cus_log", None),
        (reader, "GET", "/v1/customers/nobody", None),
        (reader, "POST", "/v1/api-keys", {"name": "x", "scopes": ["admin"]}),
        (revoked, "GET", "/v1/customers/cus_log", None),
        (forged, "GET", "/v1/customers/cus_log", None),
        (unknown, "GET", "/v1/customers/cus_log", None),
        (writer + "x", "GET", "/v1/customers/cus_log", None),
    ]:
        response = await client.request(method, path, json=body, headers=bearer(key))
        statuses.append(response.status_code)
    assert statuses == [201, 422, 403, 200, 404, 403, 401, 401, 401, 401]
    captured = all_logs.getvalue()
    # (all_logs comes first: the test connection must be opened with SQL logging on.)
    # Lines were captured, SQL included: the check below is not vacuous.
    assert captured.count('"holdfast.access"') >= len(statuses)
    assert "FROM api_keys" in captured, "SQL logging was not captured"

    for key in (tenant.admin_key, writer, reader, revoked, forged, unknown):
        secret = key.rsplit("_", 1)[1]
        assert key not in captured
        assert secret not in captured


async def test_key_comparison_is_constant_time(
    client: httpx.AsyncClient, tenant: TenantInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[object, object]] = []
    real = hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(keys.hmac, "compare_digest", spy)
    forged = tenant.admin_key[:-1] + ("A" if not tenant.admin_key.endswith("A") else "B")
    assert (await client.get("/v1/api-keys", headers=bearer(forged))).status_code == 401
    assert (await client.get("/v1/api-keys", headers=tenant.headers)).status_code == 200
    assert len(calls) == 2


async def test_rotation_without_downtime(client: httpx.AsyncClient, tenant: TenantInfo) -> None:
    """A client switches from the old key to the new one while both are valid, then the old
    one is revoked: none of its requests fails, and the old key stops working."""
    old = tenant.admin_key
    current = old
    new = ""
    statuses = []
    for step in range(30):
        if step == 10:
            new = await make_key(client, tenant, "admin")
        if step == 12:
            both = [
                (await client.get("/v1/api-keys", headers=bearer(k))).status_code
                for k in (old, new)
            ]
            assert both == [200, 200]
        if step == 15:
            current = new  # the deploy that rolls out the new key
        if step == 20:
            listing = (await client.get("/v1/api-keys", headers=bearer(new))).json()["items"]
            old_id = next(k["id"] for k in listing if k["prefix"] == keys.parse_prefix(old))
            revoked = await client.delete(f"/v1/api-keys/{old_id}", headers=bearer(new))
            assert revoked.status_code == 204
        statuses.append((await client.get("/v1/api-keys", headers=bearer(current))).status_code)
    assert statuses == [200] * 30
    assert (await client.get("/v1/api-keys", headers=bearer(old))).status_code == 401
    assert (await client.get("/v1/api-keys", headers=bearer(new))).status_code == 200


async def last_used(conn: AsyncConnection, key: str) -> datetime | None:
    value: datetime | None = await conn.scalar(
        text("SELECT last_used_at FROM api_keys WHERE prefix = :p"),
        {"p": keys.parse_prefix(key)},
    )
    return value


async def test_last_used_is_refreshed_at_most_once_a_minute(
    client: httpx.AsyncClient, tenant: TenantInfo, conn: AsyncConnection
) -> None:
    key = await make_key(client, tenant, "read")
    assert await last_used(conn, key) is None

    assert (await client.get("/v1/plans", headers=bearer(key))).status_code == 200
    first = await last_used(conn, key)
    assert first is not None
    for _ in range(3):
        await client.get("/v1/plans", headers=bearer(key))
    assert await last_used(conn, key) == first  # reads do not turn into writes

    earlier = first - timedelta(seconds=61)
    await conn.execute(
        text("UPDATE api_keys SET last_used_at = :t WHERE prefix = :p"),
        {"t": earlier, "p": keys.parse_prefix(key)},
    )
    await client.get("/v1/plans", headers=bearer(key))
    refreshed = await last_used(conn, key)
    assert refreshed is not None and refreshed >= first
