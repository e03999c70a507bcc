from __future__ import annotations

from fastapi import APIRouter

from app.db import Session
from app.health import service
from app.health.schemas import HealthSettingsRead
from app.health.settings import HealthSettings
from app.openapi import responses
from app.tenants.auth import Admin, Reader

router = APIRouter(prefix="/v1/settings/health", tags=["health"])


@router.get(
    "",
    response_model=HealthSettingsRead,
    responses=responses(401, 403),
    summary="Read the health model settings (version 0: the defaults)",
)
async def get_health_settings(principal: Reader, session: Session) -> HealthSettingsRead:
    stored = await service.read_settings(session, principal.tenant_id)
    return HealthSettingsRead(
        version=stored.version, settings=stored.settings, updated_at=stored.updated_at
    )


@router.put(
    "",
    response_model=HealthSettingsRead,
    responses=responses(401, 403, 422),
    summary="Replace the health model settings, storing them as the next version",
)
async def replace_health_settings(
    body: HealthSettings, principal: Admin, session: Session
) -> HealthSettingsRead:
    stored = await service.replace_settings(
        session, principal.tenant_id, body, key_id=principal.key_id
    )
    return HealthSettingsRead(
        version=stored.version, settings=stored.settings, updated_at=stored.updated_at
    )
