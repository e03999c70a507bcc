"""The real ``segment-analytics-python`` client, configured with host ``<holdfast>/segment``,
against a running ``holdfast serve`` on the test database."""

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from segment.analytics import Client
from segment.analytics.request import APIError

from tests.conftest import Committed, make_key
from tests.e2e.helpers import Server, clean_env

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, database_url: str) -> Iterator[Server]:
    running = Server(
        Path(tmp_path_factory.mktemp("segment")) / "data", env=clean_env(DATABASE_URL=database_url)
    )
    try:
        running.start()
        yield running
        assert running.stop() == 0
    finally:
        running.kill()
        if hasattr(running, "log") and not running.log.closed:
            running.log.close()


async def test_the_segment_client_records_tracks_and_identifies(
    server: Server, committed: Committed
) -> None:
    tenant = await committed.tenant("segment-e2e")
    async with committed.client() as client:
        write_key = await make_key(client, tenant, "events:write")

    when = datetime.now(UTC) - timedelta(minutes=5)
    for gzip in (False, True):
        analytics = Client(
            write_key, host=f"{server.base_url}/segment", sync_mode=True, gzip=gzip, max_retries=0
        )
        # The client posts synchronously (requests); run it off the event loop.
        await asyncio.to_thread(
            analytics.identify, "cus_seg", {"email": "ada@example.com", "gzip": gzip}
        )
        await asyncio.to_thread(
            analytics.track,
            "cus_seg",
            "Order Completed",
            {"revenue": 19.99, "currency": "EUR", "order_id": f"o-{gzip}"},
            timestamp=when,
            message_id=f"order-{gzip}",
        )
        await asyncio.to_thread(
            analytics.track, "cus_seg", "Dashboard Viewed", {"tab": "health"}, timestamp=when
        )
    # a retry of a delivered message is counted once
    await asyncio.to_thread(
        analytics.track,
        "cus_seg",
        "Order Completed",
        {"revenue": 19.99, "currency": "EUR", "order_id": "o-True"},
        timestamp=when,
        message_id="order-True",
    )

    async with committed.client() as client:
        state = (await client.get("/v1/customers/cus_seg", headers=tenant.headers)).json()
        events = (await client.get("/v1/customers/cus_seg/events", headers=tenant.headers)).json()[
            "items"
        ]
    assert state["traits"] == {"email": "ada@example.com", "gzip": True}
    assert state["counters"]["purchases"] == 2
    assert state["lifetime_revenue"] == 2 * 1999
    assert sorted(e["type"] for e in events) == ["purchase", "purchase", "usage", "usage"]
    assert {e["feature"] for e in events if e["type"] == "usage"} == {"Dashboard Viewed"}
    assert all(e["source"] == "segment" for e in events)


async def test_the_segment_client_sees_a_bad_write_key(server: Server) -> None:
    analytics = Client("hf_notarealkey_x", host=f"{server.base_url}/segment", sync_mode=True)
    with pytest.raises(APIError) as raised:
        await asyncio.to_thread(analytics.track, "cus_seg", "Anything")
    assert raised.value.status == 401


async def test_a_read_only_key_is_refused(server: Server, committed: Committed) -> None:
    tenant = await committed.tenant("segment-e2e-ro")
    async with committed.client() as client:
        read_key = await make_key(client, tenant, "read")
    analytics = Client(read_key, host=f"{server.base_url}/segment", sync_mode=True)
    with pytest.raises(APIError) as raised:
        await asyncio.to_thread(analytics.track, "cus_seg", "Anything")
    assert raised.value.status == 403
