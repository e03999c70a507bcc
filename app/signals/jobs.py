"""The periodic signal scan, one tenant at a time in its own short transaction; run by the
rescore job (:func:`app.scheduler.periodic_round`) right after the tenant's rescore, so the
loyalty milestone sees fresh health tiers. The same transaction refreshes the tenant's stored
purchase rhythm (the fallback interval of one-time buyers)."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

from app.customers.service import refresh_tenant_rhythm
from app.db import Database
from app.signals.service import ScanReport, scan_signals

logger = logging.getLogger("holdfast.signals")


async def scan_tenant(database: Database, tenant_id: uuid.UUID, *, now: datetime) -> ScanReport:
    """Refresh the tenant's purchase rhythm, scan its signals, and commit. A failure is logged
    and reported as nothing sent: one tenant's trouble must not stop the other tenants'
    rescoring or signals."""
    try:
        async with database.sessionmaker() as session, session.begin():
            await refresh_tenant_rhythm(session, tenant_id, now)
            return await scan_signals(session, tenant_id, now=now)
    except Exception:
        logger.exception("signal scan failed", extra={"tenant_id": str(tenant_id)})
        return ScanReport()
