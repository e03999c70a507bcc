"""Creating a tenant: the tenant and its first key, then what each package sets up for it.

Above the domain packages (like ``app.scheduler``), so that tenants, which every package
depends on for authentication, depends on none of them.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Tenant
from app.offers.service import install_default_offers
from app.tenants.service import CreatedKey, create_tenant_record


async def create_tenant(session: AsyncSession, name: str) -> tuple[Tenant, CreatedKey]:
    """A new tenant with the default offers, and its first admin key (the only time the key is
    visible)."""
    tenant, key = await create_tenant_record(session, name)
    await install_default_offers(session, tenant.id)
    return tenant, key
