"""The delivery worker against a real HTTP receiver on 127.0.0.1, with real commits.

The worker is driven with ``deliver_due`` and an explicit ``now``, stepping through the retry
schedule without sleeping.
"""

import asyncio
import json
import socket
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from app.config import Settings
from app.main import create_app
from app.webhooks import service
from app.webhooks.repository import Outcome, claim_due, record_outcomes
from app.webhooks.worker import DeliveryPolicy, DeliveryWorker, claim, deliver_due
from tests.api.webhook_receiver import Receiver, running_receiver
from tests.conftest import Committed, TenantInfo

POLICY = DeliveryPolicy(
    batch_size=10,
    max_attempts=4,
    backoff_base_s=30,
    backoff_cap_s=3600,
    request_timeout_s=2,
    lease_s=60,
)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as r:
        yield r


async def register(
    committed: Committed, tenant: TenantInfo, url: str, event_types: list[str] | None = None
) -> dict[str, Any]:
    async with committed.client() as client:
        response = await client.post(
            "/v1/webhooks",
            json={"url": url, "event_types": event_types or ["*"]},
            headers=tenant.headers,
        )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def setup(committed: Committed, receiver: Receiver) -> tuple[TenantInfo, dict[str, Any]]:
    tenant = await committed.tenant()
    webhook = await register(committed, tenant, receiver.url)
    receiver.secret = webhook["secret"]
    return tenant, webhook


async def enqueue(
    committed: Committed, tenant: TenantInfo, event_type: str = "customer.churned"
) -> uuid.UUID:
    async with committed.database.sessionmaker() as session, session.begin():
        return await service.enqueue(
            session, tenant.id, event_type, {"customer_id": "cus_42", "reason": "price"}
        )


async def delivery(committed: Committed, event_id: uuid.UUID) -> Any:
    async with committed.engine.connect() as conn:
        result = await conn.execute(
            text("SELECT * FROM webhook_deliveries WHERE event_id = :e"), {"e": event_id}
        )
        return result.one()


def soon() -> datetime:
    return datetime.now(UTC) + timedelta(seconds=1)


async def test_a_committed_event_is_delivered_once_signed_with_its_envelope(
    committed: Committed, receiver: Receiver
) -> None:
    tenant, webhook = await setup(committed, receiver)
    event_id = await enqueue(committed, tenant)
    now = soon()

    assert await deliver_due(committed.database, now, policy=POLICY) == 1
    assert await deliver_due(committed.database, now + timedelta(hours=1), policy=POLICY) == 0

    [request] = receiver.received
    assert request.verified
    assert request.path == "/hooks/holdfast"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["webhook-id"] == str(event_id)
    assert request.headers["X-Holdfast-Event-Type"] == "customer.churned"
    assert request.headers["User-Agent"].startswith("Holdfast-Webhooks/")
    body = json.loads(request.body)
    assert body["id"] == str(event_id)
    assert body["type"] == "customer.churned"
    assert body["tenant_id"] == str(tenant.id)
    assert body["data"] == {"customer_id": "cus_42", "reason": "price"}

    row = await delivery(committed, event_id)
    assert (row.status, row.attempts, row.last_status_code) == ("delivered", 1, 200)
    assert row.delivered_at == now
    assert row.next_attempt_at is None
    assert row.last_error is None

    async with committed.client() as client:
        log = await client.get(f"/v1/webhooks/{webhook['id']}/deliveries", headers=tenant.headers)
    [item] = log.json()["items"]
    assert item["status"] == "delivered"
    assert item["attempts"] == 1


async def test_failures_are_retried_with_growing_backoff_until_delivered(
    committed: Committed, receiver: Receiver
) -> None:
    receiver.statuses = [500, 500]
    tenant, _ = await setup(committed, receiver)
    event_id = await enqueue(committed, tenant)
    now = soon()

    assert await deliver_due(committed.database, now, policy=POLICY) == 1
    first = await delivery(committed, event_id)
    assert (first.status, first.attempts, first.last_status_code) == ("pending", 1, 500)
    assert first.last_error == "receiver answered 500"
    gap1 = first.next_attempt_at - now
    assert timedelta(seconds=24) <= gap1 <= timedelta(seconds=30)

    # Not due a moment before its time.
    early = first.next_attempt_at - timedelta(milliseconds=1)
    assert await deliver_due(committed.database, early, policy=POLICY) == 0
    assert await deliver_due(committed.database, first.next_attempt_at, policy=POLICY) == 1
    second = await delivery(committed, event_id)
    assert second.attempts == 2
    gap2 = second.next_attempt_at - first.next_attempt_at
    assert timedelta(seconds=48) <= gap2 <= timedelta(seconds=60)
    assert gap2 > gap1

    assert await deliver_due(committed.database, second.next_attempt_at, policy=POLICY) == 1
    third = await delivery(committed, event_id)
    assert (third.status, third.attempts, third.last_status_code) == ("delivered", 3, 200)
    assert third.delivered_at == second.next_attempt_at

    assert [r.headers["X-Holdfast-Delivery-Attempt"] for r in receiver.received] == ["1", "2", "3"]
    assert all(r.verified for r in receiver.received)
    assert len({r.body for r in receiver.received}) == 1  # the same body every time


async def test_a_receiver_that_is_down_ends_failed_after_max_attempts(
    committed: Committed,
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # Nothing listens on the port any more: every attempt is refused.
    tenant = await committed.tenant()
    await register(committed, tenant, f"http://127.0.0.1:{port}/hook")
    event_id = await enqueue(committed, tenant)

    at = soon()
    for attempt in range(1, POLICY.max_attempts + 1):
        assert await deliver_due(committed.database, at, policy=POLICY) == 1
        row = await delivery(committed, event_id)
        assert row.attempts == attempt
        assert row.last_status_code is None
        assert row.last_error.startswith("could not connect")
        if attempt < POLICY.max_attempts:
            assert row.status == "pending"
            at = row.next_attempt_at
    assert row.status == "failed"
    assert row.next_attempt_at is None
    assert await deliver_due(committed.database, at + timedelta(days=30), policy=POLICY) == 0


async def test_an_event_enqueued_in_a_rolled_back_transaction_is_never_sent(
    committed: Committed, receiver: Receiver
) -> None:
    tenant, _ = await setup(committed, receiver)
    queued: list[uuid.UUID] = []

    async def change_that_fails_after_enqueue() -> None:
        async with committed.database.sessionmaker() as session, session.begin():
            queued.append(await service.enqueue(session, tenant.id, "customer.churned", {}))
            raise RuntimeError("the change being announced failed")

    with pytest.raises(RuntimeError, match="failed"):
        await change_that_fails_after_enqueue()
    [event_id] = queued
    assert await deliver_due(committed.database, soon(), policy=POLICY) == 0
    assert receiver.received == []
    async with committed.engine.connect() as conn:
        count = await conn.scalar(
            text("SELECT count(*) FROM webhook_deliveries WHERE event_id = :e"), {"e": event_id}
        )
    assert count == 0


async def test_a_claim_abandoned_by_a_dead_worker_is_retried_after_the_lease(
    committed: Committed, receiver: Receiver
) -> None:
    tenant, _ = await setup(committed, receiver)
    event_id = await enqueue(committed, tenant)
    now = soon()

    # A worker claims the delivery, then dies without sending or recording anything.
    [abandoned] = await claim(committed.database, now, POLICY)
    assert abandoned.event_id == event_id
    leased = await delivery(committed, event_id)
    assert (leased.status, leased.attempts) == ("pending", 1)
    assert leased.next_attempt_at == now + timedelta(seconds=POLICY.lease_s)

    half_lease = now + timedelta(seconds=POLICY.lease_s / 2)
    assert await deliver_due(committed.database, half_lease, policy=POLICY) == 0
    assert receiver.received == []

    after = leased.next_attempt_at
    assert await deliver_due(committed.database, after, policy=POLICY) == 1
    row = await delivery(committed, event_id)
    assert (row.status, row.attempts) == ("delivered", 2)
    assert len(receiver.received) == 1


async def test_a_worker_whose_lease_ran_out_cannot_overwrite_the_next_attempt(
    committed: Committed, receiver: Receiver
) -> None:
    tenant, _ = await setup(committed, receiver)
    event_id = await enqueue(committed, tenant)
    now = soon()
    [slow] = await claim(committed.database, now, POLICY)
    [retrying] = await claim(committed.database, now + timedelta(seconds=POLICY.lease_s), POLICY)
    assert (slow.id, slow.attempts, retrying.attempts) == (retrying.id, 1, 2)

    # The slow worker finally reports; the row is claimed by another attempt, so nothing changes.
    late = Outcome(slow.tenant_id, slow.id, slow.attempts, "failed", None, 500, "late", None)
    async with committed.database.sessionmaker() as session, session.begin():
        await record_outcomes(session, [late])
    row = await delivery(committed, event_id)
    assert (row.status, row.attempts, row.last_error) == ("pending", 2, None)

    done_at = now + timedelta(seconds=POLICY.lease_s + 1)
    current = Outcome(
        retrying.tenant_id, retrying.id, retrying.attempts, "delivered", None, 200, None, done_at
    )
    async with committed.database.sessionmaker() as session, session.begin():
        await record_outcomes(session, [current])
    assert (await delivery(committed, event_id)).status == "delivered"


async def test_concurrent_workers_claim_disjoint_deliveries(
    committed: Committed, receiver: Receiver
) -> None:
    tenant, _ = await setup(committed, receiver)
    events = {await enqueue(committed, tenant) for _ in range(5)}
    now = soon()
    lease_until = now + timedelta(seconds=POLICY.lease_s)
    # Worker A's claim transaction is still open (its rows locked) when worker B claims.
    async with committed.database.sessionmaker() as a, a.begin():
        first = await claim_due(a, tenant.id, now, lease_until, 3)
        async with committed.database.sessionmaker() as b, b.begin():
            second = await claim_due(b, tenant.id, now, lease_until, 10)
    assert len(first) == 3
    assert len(second) == 2
    assert {c.event_id for c in first} | {c.event_id for c in second} == events
    assert await deliver_due(committed.database, now, policy=POLICY) == 0


async def test_one_busy_tenant_does_not_starve_the_others(
    committed: Committed, receiver: Receiver
) -> None:
    busy, _ = await setup(committed, receiver)
    busy_events = {await enqueue(committed, busy) for _ in range(25)}
    quiet, _ = await setup(committed, receiver)
    quiet_events = {await enqueue(committed, quiet) for _ in range(2)}
    now = soon()

    # The busy tenant's backlog is older, yet the quiet tenant's deliveries make the first batch.
    first = await claim(committed.database, now, POLICY)
    assert len(first) == POLICY.batch_size
    assert {c.event_id for c in first if c.tenant_id == quiet.id} == quiet_events
    assert sum(c.tenant_id == busy.id for c in first) == POLICY.batch_size - 2
    rest = await claim(committed.database, now, POLICY)
    assert {c.tenant_id for c in rest} == {busy.id}
    claimed = {c.event_id for c in first + rest}
    assert len(claimed) == 2 * POLICY.batch_size
    assert claimed <= busy_events | quiet_events


async def test_a_send_cut_off_mid_request_is_resent_after_the_lease(
    committed: Committed, receiver: Receiver
) -> None:
    receiver.delays_s = [5.0]
    tenant, _ = await setup(committed, receiver)
    event_id = await enqueue(committed, tenant)
    now = soon()

    task = asyncio.create_task(deliver_due(committed.database, now, policy=POLICY))
    for _ in range(1000):  # up to 10 s on a loaded machine; usually a few milliseconds
        if receiver.count():
            break
        await asyncio.sleep(0.01)
    assert receiver.count() == 1
    task.cancel()  # the process dies while the receiver is still answering
    with pytest.raises(asyncio.CancelledError):
        await task

    row = await delivery(committed, event_id)
    assert (row.status, row.attempts) == ("pending", 1)
    assert await deliver_due(committed.database, row.next_attempt_at, policy=POLICY) == 1
    assert (await delivery(committed, event_id)).status == "delivered"
    # At least once: the receiver saw the event twice, with one id to deduplicate on.
    assert [r.headers["webhook-id"] for r in receiver.received] == [str(event_id)] * 2


async def test_slow_receivers_time_out_and_redirects_are_not_followed(
    committed: Committed, receiver: Receiver
) -> None:
    tenant, _ = await setup(committed, receiver)
    fast = replace(POLICY, request_timeout_s=0.3)
    receiver.delays_s = [1.0]
    slow_id = await enqueue(committed, tenant)
    assert await deliver_due(committed.database, soon(), policy=fast) == 1
    slow = await delivery(committed, slow_id)
    assert slow.status == "pending"
    assert slow.last_error == "timed out after 0.3s"

    receiver.statuses = [302]
    receiver.redirect_to = receiver.url + "/elsewhere"
    moved_id = await enqueue(committed, tenant)
    # Only the new event is due now; the slow one waits for its backoff.
    assert await deliver_due(committed.database, soon(), policy=POLICY) == 1
    moved = await delivery(committed, moved_id)
    assert (moved.status, moved.last_status_code) == ("pending", 302)
    assert "redirects are not followed" in moved.last_error
    assert [r.path for r in receiver.received] == ["/hooks/holdfast"] * 2


async def test_private_destinations_are_not_contacted_when_disallowed(
    committed: Committed, receiver: Receiver
) -> None:
    tenant, _ = await setup(committed, receiver)
    event_id = await enqueue(committed, tenant)
    strict = replace(POLICY, allow_private_urls=False)
    assert await deliver_due(committed.database, soon(), policy=strict) == 1
    row = await delivery(committed, event_id)
    assert row.status == "pending"
    assert "private destinations are not allowed" in row.last_error
    assert receiver.received == []


async def test_inactive_endpoints_hold_deliveries_and_deleted_ones_drop_them(
    committed: Committed, receiver: Receiver
) -> None:
    tenant, webhook = await setup(committed, receiver)
    held = await enqueue(committed, tenant)
    path = f"/v1/webhooks/{webhook['id']}"
    async with committed.client() as client:
        await client.patch(path, json={"active": False}, headers=tenant.headers)
        assert await deliver_due(committed.database, soon(), policy=POLICY) == 0
        await client.patch(path, json={"active": True}, headers=tenant.headers)
        assert await deliver_due(committed.database, soon(), policy=POLICY) == 1
        assert (await delivery(committed, held)).status == "delivered"

        dropped = await enqueue(committed, tenant)
        assert (await client.delete(path, headers=tenant.headers)).status_code == 204
    assert await deliver_due(committed.database, soon(), policy=POLICY) == 0
    assert (await delivery(committed, dropped)).status == "cancelled"
    assert len(receiver.received) == 1


async def test_the_test_event_reaches_the_receiver(
    committed: Committed, receiver: Receiver
) -> None:
    tenant, webhook = await setup(committed, receiver)
    async with committed.client() as client:
        queued = await client.post(f"/v1/webhooks/{webhook['id']}/test", headers=tenant.headers)
    assert queued.status_code == 202
    assert await deliver_due(committed.database, soon(), policy=POLICY) == 1
    [request] = receiver.received
    assert request.verified
    assert json.loads(request.body)["type"] == "webhook.test"


async def test_the_background_worker_delivers_until_stopped(
    committed: Committed, receiver: Receiver
) -> None:
    tenant, _ = await setup(committed, receiver)
    worker = DeliveryWorker(committed.database, POLICY, poll_interval_s=0.05)
    worker.start()
    try:
        assert worker.running
        await enqueue(committed, tenant)
        for _ in range(400):  # up to 10 s on a loaded machine
            if receiver.count():
                break
            await asyncio.sleep(0.025)
    finally:
        await worker.stop()
    assert not worker.running
    assert receiver.count() == 1
    assert receiver.received[0].verified


async def test_the_app_runs_the_worker_only_when_it_owns_the_database(
    committed: Committed, database_url: str, settings: Settings
) -> None:
    owned = create_app(settings.model_copy(update={"database_url": database_url}))
    async with owned.router.lifespan_context(owned):
        assert owned.state.webhook_worker.running
    assert owned.state.webhook_worker is None

    disabled = create_app(
        settings.model_copy(update={"database_url": database_url, "webhook_worker_enabled": False})
    )
    async with disabled.router.lifespan_context(disabled):
        assert disabled.state.webhook_worker is None

    given = committed.app()
    async with given.router.lifespan_context(given):
        assert given.state.webhook_worker is None
