"""Tenants and their API keys."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import driver_connection
from app.errors import NotFound
from app.models import ApiKey, Tenant
from app.tenants import keys

# last_used_at is refreshed at most this often per key, so reads do not turn into writes.
_LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class CreatedKey:
    row: ApiKey
    plaintext: str


async def create_tenant_record(session: AsyncSession, name: str) -> tuple[Tenant, CreatedKey]:
    """A new tenant and its first admin key (the only time the key is visible). What other
    packages set up for a new tenant is added by ``app.onboarding.create_tenant``."""
    tenant = Tenant(id=uuid.uuid4(), name=name)
    session.add(tenant)
    await session.flush()
    key = await create_api_key(session, tenant.id, name="initial admin key", scopes=["admin"])
    return tenant, key


async def tenant_ids(session: AsyncSession) -> list[uuid.UUID]:
    """Every tenant, in id order (for periodic work that visits each)."""
    return list((await session.scalars(select(Tenant.id).order_by(Tenant.id))).all())


async def create_api_key(
    session: AsyncSession, tenant_id: uuid.UUID, *, name: str, scopes: Sequence[str]
) -> CreatedKey:
    new = keys.generate_key()
    row = ApiKey(
        tenant_id=tenant_id,
        id=uuid.uuid4(),
        name=name,
        prefix=new.prefix,
        key_hash=new.key_hash,
        scopes=sorted(set(scopes)),
        created_at=datetime.now(UTC),
    )
    session.add(row)
    await session.flush()
    return CreatedKey(row=row, plaintext=new.plaintext)


async def list_api_keys(session: AsyncSession, tenant_id: uuid.UUID) -> Sequence[ApiKey]:
    result = await session.scalars(
        select(ApiKey).where(ApiKey.tenant_id == tenant_id).order_by(ApiKey.created_at)
    )
    return result.all()


async def revoke_api_key(session: AsyncSession, tenant_id: uuid.UUID, key_id: uuid.UUID) -> None:
    result = await session.execute(
        update(ApiKey)
        .where(ApiKey.tenant_id == tenant_id, ApiKey.id == key_id)
        # The time as a parameter: Citus refuses non-immutable functions inside COALESCE.
        .values(revoked_at=func.coalesce(ApiKey.revoked_at, datetime.now(UTC)))
        .returning(ApiKey.id)
    )
    if result.first() is None:
        raise NotFound(f"No API key {key_id} in this tenant.")


async def revoke_keys_named(
    session: AsyncSession, tenant_id: uuid.UUID, names: Sequence[str]
) -> int:
    """Revoke the tenant's active keys with one of ``names``; returns how many."""
    result = await session.execute(
        update(ApiKey)
        .where(ApiKey.tenant_id == tenant_id, ApiKey.name.in_(names), ApiKey.revoked_at.is_(None))
        .values(revoked_at=func.now())
        .returning(ApiKey.id)
    )
    return len(result.all())


@dataclass(frozen=True, slots=True)
class ActiveKey:
    """What authenticating a request needs of a live key."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    key_hash: str
    scopes: list[str]
    last_used_at: datetime | None


# Every request looks its key up: a hot path, so straight to the driver (CONTRIBUTING.md).
_ACTIVE_KEY = (
    "SELECT id, tenant_id, key_hash, scopes, last_used_at FROM api_keys"
    " WHERE prefix = $1 AND revoked_at IS NULL"
)


async def find_active_key(session: AsyncSession, prefix: str) -> ActiveKey | None:
    conn = await driver_connection(session)
    row = await conn.fetchrow(_ACTIVE_KEY, prefix)
    return None if row is None else ActiveKey(**row)


async def touch_last_used(session: AsyncSession, key: ActiveKey, now: datetime) -> None:
    if key.last_used_at is None or now - key.last_used_at >= _LAST_USED_RESOLUTION:
        await session.execute(
            update(ApiKey)
            .where(ApiKey.tenant_id == key.tenant_id, ApiKey.id == key.id)
            .values(last_used_at=now)
        )
