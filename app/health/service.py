"""Per-tenant health settings: versioned, never rewritten.

The scoring service calls :func:`current_settings` (and :func:`settings_at_version` to explain
an old score); the settings API reads and replaces them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import NotFound
from app.health.settings import HealthSettings
from app.models import HealthSettingsVersion


@dataclass(frozen=True)
class StoredSettings:
    version: int
    settings: HealthSettings
    updated_at: datetime | None


DEFAULTS = StoredSettings(version=0, settings=HealthSettings(), updated_at=None)


async def read_settings(session: AsyncSession, tenant_id: uuid.UUID) -> StoredSettings:
    """The latest stored version, or the defaults as version 0."""
    row = await session.scalar(
        select(HealthSettingsVersion)
        .where(HealthSettingsVersion.tenant_id == tenant_id)
        .order_by(HealthSettingsVersion.version.desc())
        .limit(1)
    )
    return DEFAULTS if row is None else _stored(row)


async def current_settings(
    session: AsyncSession, tenant_id: uuid.UUID
) -> tuple[int, HealthSettings]:
    """``(model_version, settings)`` to score the tenant's customers with now."""
    stored = await read_settings(session, tenant_id)
    return stored.version, stored.settings


async def settings_at_version(
    session: AsyncSession, tenant_id: uuid.UUID, version: int
) -> HealthSettings:
    """The settings a score with ``model_version == version`` was computed with."""
    if version == 0:
        return DEFAULTS.settings
    row = await session.get(HealthSettingsVersion, (tenant_id, version))
    if row is None:
        raise NotFound(f"No health settings version {version} in this tenant.")
    return _stored(row).settings


async def replace_settings(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    settings: HealthSettings,
    *,
    key_id: uuid.UUID | None = None,
) -> StoredSettings:
    """Store ``settings`` as the tenant's next version and return it.

    Concurrent replacements are serialised per tenant by a transaction-scoped advisory lock
    taken before the next version number is read, so two of them can never compute the same
    number (the primary key would reject it, but as an error rather than a new version).
    """
    await session.execute(
        select(func.pg_advisory_xact_lock(func.hashtextextended(_lock_name(tenant_id), 0)))
    )
    # Read first, then insert a plain value: Citus refuses subqueries inside INSERT ... VALUES.
    next_version = await session.scalar(
        select(func.coalesce(func.max(HealthSettingsVersion.version), 0) + 1).where(
            HealthSettingsVersion.tenant_id == tenant_id
        )
    )
    row = (
        await session.execute(
            insert(HealthSettingsVersion)
            .values(
                tenant_id=tenant_id,
                version=next_version,
                settings=settings.model_dump(mode="json"),
                updated_by_key_id=key_id,
            )
            .returning(HealthSettingsVersion.version, HealthSettingsVersion.updated_at)
        )
    ).one()
    return StoredSettings(version=row.version, settings=settings, updated_at=row.updated_at)


def _lock_name(tenant_id: uuid.UUID) -> str:
    return f"holdfast.health_settings:{tenant_id}"


def _stored(row: HealthSettingsVersion) -> StoredSettings:
    return StoredSettings(
        version=row.version,
        settings=HealthSettings.model_validate(row.settings),
        updated_at=row.updated_at,
    )
