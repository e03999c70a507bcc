from __future__ import annotations

from fastapi import APIRouter

from app.db import Session
from app.openapi import responses
from app.signals import service
from app.signals.schemas import SignalSettingsRead
from app.signals.settings import SignalSettings
from app.tenants.auth import Admin, Reader

router = APIRouter(prefix="/v1/settings/signals", tags=["signals"])

_SIGNALS = """Lifecycle signals are webhooks sent by the periodic scan (with the rescore), each
once per occasion: `customer.reorder_overdue` (a repeat buyer's time since its last purchase
exceeds `factor` x its median interval; once per last purchase day), `customer.inactive` (no
usage for `days` after having had some; once per last usage day), `customer.loyalty_milestone`
(tenure since first activation reaches one of `months` while active and in the healthy tier;
once per milestone). Paused and cancelled customers get no reorder or inactivity signal. A
signal whose moment passed more than `catch_up_days` before a scan is not sent."""


@router.get(
    "",
    response_model=SignalSettingsRead,
    responses=responses(401, 403),
    summary="Read the lifecycle-signal settings (defaults until set)",
    description=_SIGNALS,
)
async def get_signal_settings(principal: Reader, session: Session) -> SignalSettingsRead:
    stored = await service.read_settings(session, principal.tenant_id)
    return SignalSettingsRead(**stored.settings.model_dump(), updated_at=stored.updated_at)


@router.put(
    "",
    response_model=SignalSettingsRead,
    responses=responses(401, 403, 422),
    summary="Replace the lifecycle-signal settings (fields left out take their defaults)",
    description=_SIGNALS,
)
async def replace_signal_settings(
    body: SignalSettings, principal: Admin, session: Session
) -> SignalSettingsRead:
    stored = await service.replace_settings(
        session, principal.tenant_id, body, key_id=principal.key_id
    )
    return SignalSettingsRead(**stored.settings.model_dump(), updated_at=stored.updated_at)
