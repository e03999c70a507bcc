"""The request transaction is one transaction, also for statements sent straight to asyncpg."""

import uuid
from datetime import UTC, datetime

from sqlalchemy import text

from app.db import driver_connection
from app.events.repository import EventRow, insert_events
from tests.conftest import Committed


def row(key: str) -> EventRow:
    return EventRow(
        id=uuid.uuid4(),
        idempotency_key=key,
        content_hash="h",
        customer_id="c",
        type="usage",
        occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
        amount=None,
        currency=None,
        plan=None,
        mrr=None,
        quantity=1,
        feature=None,
        reason=None,
        comment=None,
        effective_at=None,
        resume_at=None,
        nps=None,
        discount_until=None,
        properties="{}",
    )


async def test_driver_statements_first_in_a_session_are_rolled_back_with_it(
    committed: Committed,
) -> None:
    tenant = await committed.tenant("tx")
    async with committed.database.sessionmaker() as session, session.begin():
        conn = await driver_connection(session)
        assert conn.is_in_transaction()
        await insert_events(session, tenant.id, "api", [row("k1")])
        await session.rollback()
    async with committed.engine.connect() as connection:
        stored = await connection.scalar(
            text("SELECT count(*) FROM events WHERE tenant_id = :t"), {"t": tenant.id}
        )
    assert stored == 0
