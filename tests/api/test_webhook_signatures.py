"""Standard Webhooks signatures on real deliveries, verified by the ``standardwebhooks`` library
as a consumer would; secret rotation through the API; old secrets carried over by migration."""

import base64
import hashlib
import hmac
import json
import re
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from standardwebhooks import Webhook, WebhookVerificationError

from app.config import Settings
from app.db import make_engine
from app.migrate import downgrade, upgrade
from app.webhooks import signing
from app.webhooks.worker import deliver_due
from tests.api.test_webhook_delivery import POLICY, enqueue, register, soon
from tests.api.webhook_receiver import running_receiver
from tests.conftest import Committed, ServerInfo, TenantInfo, create_database, drop_database


def verify(secret: str, received: Any) -> dict[str, Any]:
    payload: dict[str, Any] = Webhook(secret).verify(received.body, received.headers)
    return payload


async def rotate(
    committed: Committed, tenant: TenantInfo, webhook_id: str, body: dict[str, Any] | None
) -> httpx.Response:
    async with committed.client() as client:
        return await client.post(
            f"/v1/webhooks/{webhook_id}/rotate-secret",
            headers=tenant.headers,
            **({"json": body} if body is not None else {}),
        )


async def test_a_delivery_carries_the_three_headers_and_verifies_with_the_library(
    committed: Committed,
) -> None:
    with running_receiver() as receiver:
        tenant = await committed.tenant()
        webhook = await register(committed, tenant, receiver.url)
        event_id = await enqueue(committed, tenant)
        assert await deliver_due(committed.database, soon(), policy=POLICY) == 1
    [request] = receiver.received
    assert request.headers["webhook-id"] == str(event_id)
    assert abs(int(request.headers["webhook-timestamp"]) - datetime.now(UTC).timestamp()) < 60
    assert request.headers["webhook-signature"].startswith("v1,")
    assert "X-Holdfast-Signature" not in request.headers
    payload = verify(webhook["secret"], request)
    assert payload["id"] == str(event_id)
    with pytest.raises(WebhookVerificationError):
        Webhook(signing.new_secret()).verify(request.body, request.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(webhook["secret"]).verify(
            request.body.replace(b"cus_42", b"cus_43"), request.headers
        )


async def test_rotation_signs_with_both_secrets_until_the_old_one_expires(
    committed: Committed,
) -> None:
    with running_receiver() as receiver:
        tenant = await committed.tenant()
        webhook = await register(committed, tenant, receiver.url)
        old = webhook["secret"]

        rotated = await rotate(committed, tenant, webhook["id"], None)
        assert rotated.status_code == 200, rotated.text
        new = rotated.json()["secret"]
        assert new != old and new.startswith("whsec_")
        expires = datetime.fromisoformat(rotated.json()["rotation_ends_at"])
        assert timedelta(hours=23) < expires - datetime.now(UTC) <= timedelta(days=1)
        async with committed.client() as client:
            read = await client.get(f"/v1/webhooks/{webhook['id']}", headers=tenant.headers)
        assert read.json()["rotation_ends_at"] == rotated.json()["rotation_ends_at"]
        assert old not in read.text and new not in read.text

        await enqueue(committed, tenant)
        await deliver_due(committed.database, soon(), policy=POLICY)
        during = receiver.received[-1]
        assert len(during.headers["webhook-signature"].split(" ")) == 2
        # A receiver still on the old secret and one already on the new one both accept it.
        verify(old, during)
        verify(new, during)

        # The window closes: only the new secret signs.
        async with committed.engine.begin() as conn:
            await conn.execute(
                text(
                    "UPDATE webhook_endpoints SET previous_secret_expires_at = :at"
                    " WHERE tenant_id = :t AND id = :id"
                ),
                {
                    "at": datetime.now(UTC) - timedelta(seconds=1),
                    "t": tenant.id,
                    "id": webhook["id"],
                },
            )
        await enqueue(committed, tenant)
        await deliver_due(committed.database, soon(), policy=POLICY)
        after = receiver.received[-1]
    assert len(after.headers["webhook-signature"].split(" ")) == 1
    verify(new, after)
    with pytest.raises(WebhookVerificationError):
        verify(old, after)


async def test_rotating_with_no_overlap_retires_the_old_secret_at_once(
    committed: Committed,
) -> None:
    with running_receiver() as receiver:
        tenant = await committed.tenant()
        webhook = await register(committed, tenant, receiver.url)
        first = (await rotate(committed, tenant, webhook["id"], {})).json()["secret"]
        # Rotating again within the window: the original secret is gone, the first rotation's
        # one now overlaps; then a rotation without overlap leaves only the newest.
        second = await rotate(committed, tenant, webhook["id"], {"previous_secret_valid_for_s": 0})
        assert second.json()["rotation_ends_at"] is None
        await enqueue(committed, tenant)
        await deliver_due(committed.database, soon(), policy=POLICY)
    [request] = receiver.received
    verify(second.json()["secret"], request)
    for retired in (webhook["secret"], first):
        with pytest.raises(WebhookVerificationError):
            verify(retired, request)


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"previous_secret_valid_for_s": -1}, ["body", "previous_secret_valid_for_s"]),
        ({"previous_secret_valid_for_s": 7 * 86400 + 1}, ["body", "previous_secret_valid_for_s"]),
        ({"previous_secret_valid_for_s": "60"}, ["body", "previous_secret_valid_for_s"]),
        ({"secret": "whsec_mine"}, ["body", "secret"]),
    ],
)
async def test_rotation_input_is_bounded_and_strict(
    client: httpx.AsyncClient, tenant: TenantInfo, body: dict[str, Any], loc: list[str]
) -> None:
    created = await client.post(
        "/v1/webhooks",
        json={"url": "https://example.com/h", "event_types": ["*"]},
        headers=tenant.headers,
    )
    response = await client.post(
        f"/v1/webhooks/{created.json()['id']}/rotate-secret", json=body, headers=tenant.headers
    )
    assert response.status_code == 422
    assert loc in [e["loc"] for e in response.json()["errors"]]


async def test_rotating_an_unknown_or_deleted_endpoint_is_404(
    client: httpx.AsyncClient, tenant: TenantInfo
) -> None:
    created = await client.post(
        "/v1/webhooks",
        json={"url": "https://example.com/h", "event_types": ["*"]},
        headers=tenant.headers,
    )
    webhook_id = created.json()["id"]
    assert (
        await client.delete(f"/v1/webhooks/{webhook_id}", headers=tenant.headers)
    ).status_code == 204
    for target in (webhook_id, str(uuid.uuid4())):
        response = await client.post(f"/v1/webhooks/{target}/rotate-secret", headers=tenant.headers)
        assert response.status_code == 404


def _parent_of_this_change() -> str:
    """The revision before the one that introduced Standard Webhooks secrets (whatever the
    chain is renumbered to, it is the one that adds ``previous_secret``)."""
    versions = Path(__file__).parents[2] / "migrations" / "versions"
    for path in versions.glob("*.py"):
        source = path.read_text()
        if '"previous_secret"' in source:
            found = re.search(r'^down_revision: str \| None = "([^"]+)"', source, re.MULTILINE)
            assert found is not None
            return found.group(1)
    raise AssertionError("no migration adds previous_secret")


async def test_migration_keeps_the_key_of_existing_secrets(
    pg_server: ServerInfo, settings: Settings
) -> None:
    name = f"holdfast_mig_{uuid.uuid4().hex[:10]}"
    url = await create_database(pg_server.admin_url, name)
    engine = make_engine(url, settings)
    old = "whsec_" + secrets.token_urlsafe(32)  # the format before Standard Webhooks
    tenant_id, endpoint_id = uuid.uuid4(), uuid.uuid4()
    try:
        parent = _parent_of_this_change()
        await upgrade(engine, parent)
        async with engine.begin() as conn:
            await conn.execute(
                text("INSERT INTO tenants (id, name) VALUES (:t, 'old')"), {"t": tenant_id}
            )
            await conn.execute(
                text(
                    "INSERT INTO webhook_endpoints (tenant_id, id, url, event_types, secret)"
                    " VALUES (:t, :id, 'https://example.com/h', ARRAY['*'], :s)"
                ),
                {"t": tenant_id, "id": endpoint_id, "s": old},
            )
        await upgrade(engine)
        async with engine.connect() as conn:
            migrated = await conn.scalar(text("SELECT secret FROM webhook_endpoints"))
        # Same key as before: what the old scheme keyed its HMAC with.
        assert signing.key_of(migrated) == old.encode()
        body, stamp = b'{"a":1}', int(datetime.now(UTC).timestamp())
        headers = signing.headers([migrated], "evt_1", stamp, body)
        Webhook(migrated).verify(body, headers)
        Webhook(old.encode()).verify(body, headers)  # a receiver holding the old secret (README)
        expected = hmac.new(old.encode(), f"evt_1.{stamp}.".encode() + body, hashlib.sha256)
        assert headers["webhook-signature"] == signing.sign(migrated, "evt_1", stamp, body)
        assert headers["webhook-signature"].endswith(base64.b64encode(expected.digest()).decode())

        await downgrade(engine, parent)
        async with engine.connect() as conn:
            assert await conn.scalar(text("SELECT secret FROM webhook_endpoints")) == old
    finally:
        await engine.dispose()
        await drop_database(pg_server.admin_url, name)


def test_the_readme_receiver_accepts_what_holdfast_signs() -> None:

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.DOTALL)
    [snippet] = [b for b in blocks if "standardwebhooks" in b]
    namespace: dict[str, Any] = {}
    exec(snippet, namespace)
    receive = namespace["receive"]
    secret = signing.new_secret()
    body = json.dumps({"id": "evt_1", "type": "customer.churned"}).encode()
    headers = signing.headers([secret], "evt_1", int(datetime.now(UTC).timestamp()), body)
    assert receive(secret, body, headers) == {"id": "evt_1", "type": "customer.churned"}
    with pytest.raises(WebhookVerificationError):
        receive(secret, body + b" ", headers)
