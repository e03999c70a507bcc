from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Query, Response

from app.db import Session
from app.offers import service
from app.offers.kinds import OfferKind
from app.offers.schemas import (
    OfferCreate,
    OfferList,
    OfferRead,
    OfferSettingsPut,
    OfferSettingsRead,
    OfferUpdate,
)
from app.openapi import responses
from app.tenants.auth import Admin, Reader

router = APIRouter(prefix="/v1/offers", tags=["offers"])
settings_router = APIRouter(prefix="/v1/settings/offers", tags=["offers"])


@router.post(
    "",
    status_code=201,
    response_model=OfferRead,
    responses=responses(401, 403, 422),
    summary="Add an offer to the catalog",
)
async def create_offer(
    body: Annotated[OfferCreate, Body(discriminator="kind")],
    principal: Admin,
    session: Session,
) -> OfferRead:
    offer = await service.create_offer(session, principal.tenant_id, body)
    return OfferRead.model_validate(offer)


@router.get(
    "",
    response_model=OfferList,
    responses=responses(401, 403, 422),
    summary="List the offer catalog, highest priority first",
)
async def list_offers(
    principal: Reader,
    session: Session,
    active: Annotated[bool | None, Query(description="Only active or inactive offers.")] = None,
    kind: Annotated[OfferKind | None, Query(description="Only offers of this kind.")] = None,
) -> OfferList:
    rows = await service.list_offers(session, principal.tenant_id, active=active, kind=kind)
    return OfferList(items=[OfferRead.model_validate(row) for row in rows])


@router.get(
    "/{offer_id}",
    response_model=OfferRead,
    responses=responses(401, 403, 404, 422),
    summary="Read one offer",
)
async def get_offer(offer_id: uuid.UUID, principal: Reader, session: Session) -> OfferRead:
    offer = await service.get_offer(session, principal.tenant_id, offer_id)
    return OfferRead.model_validate(offer)


@router.patch(
    "/{offer_id}",
    response_model=OfferRead,
    responses=responses(401, 403, 404, 422),
    summary="Change an offer's title, description, priority, active flag, rules or parameters",
)
async def update_offer(
    offer_id: uuid.UUID, body: OfferUpdate, principal: Admin, session: Session
) -> OfferRead:
    offer = await service.update_offer(session, principal.tenant_id, offer_id, body)
    return OfferRead.model_validate(offer)


@router.delete(
    "/{offer_id}",
    status_code=204,
    responses=responses(401, 403, 404, 422),
    summary="Delete an offer (past flows keep their record of it)",
)
async def delete_offer(offer_id: uuid.UUID, principal: Admin, session: Session) -> Response:
    await service.delete_offer(session, principal.tenant_id, offer_id)
    return Response(status_code=204)


@settings_router.get(
    "",
    response_model=OfferSettingsRead,
    responses=responses(401, 403),
    summary="Read the cancellation-flow settings (defaults until set)",
)
async def get_offer_settings(principal: Reader, session: Session) -> OfferSettingsRead:
    settings = await service.get_offer_settings(session, principal.tenant_id)
    return OfferSettingsRead.model_validate(settings)


@settings_router.put(
    "",
    response_model=OfferSettingsRead,
    responses=responses(401, 403, 422),
    summary="Replace the cancellation-flow settings (holdout share, keep days)",
)
async def put_offer_settings(
    body: OfferSettingsPut, principal: Admin, session: Session
) -> OfferSettingsRead:
    settings = await service.put_offer_settings(session, principal.tenant_id, body)
    return OfferSettingsRead.model_validate(settings)
