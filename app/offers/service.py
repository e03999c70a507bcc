"""The offer catalog and the cancellation-flow settings: validation beyond a payload's shape,
and what goes into the request transaction. Never commits."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import InvalidInput, NotFound
from app.models import Offer, OfferSettings
from app.offers import repository
from app.offers.defaults import DEFAULT_OFFERS
from app.offers.kinds import DowngradeParams, OfferParams, parse_params
from app.offers.rules import dump_rules
from app.offers.schemas import OfferCreate, OfferSettingsPut, OfferUpdate, parse_offer_create
from app.plans import repository as plans
from app.plans.catalog import NEXT_CHEAPER


def _not_found(offer_id: uuid.UUID) -> NotFound:
    return NotFound(f"No offer {offer_id} in this tenant.")


async def _check_downgrade_target(
    session: AsyncSession, tenant_id: uuid.UUID, params: OfferParams, loc: list[str | int]
) -> None:
    """An explicit downgrade target must be a catalog plan (it may be inactive for now: it is
    offered only while active). A typo would otherwise make the offer silently never apply."""
    if not isinstance(params, DowngradeParams) or params.target_plan_id == NEXT_CHEAPER:
        return
    if not await plans.plan_exists(session, tenant_id, params.target_plan_id):
        raise InvalidInput(
            f"No plan '{params.target_plan_id}' in the catalog: create it with "
            f"PUT /v1/plans/{params.target_plan_id}, or target '{NEXT_CHEAPER}'.",
            errors=[{"loc": loc, "msg": "unknown plan", "type": "unknown_plan"}],
        )


def _row(tenant_id: uuid.UUID, body: OfferCreate, now: datetime) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id,
        "id": uuid.uuid4(),
        "kind": body.kind,
        "title": body.title,
        "description": body.description,
        "params": body.params.model_dump(mode="json"),
        "rules": dump_rules(body.rules),
        "priority": body.priority,
        "active": body.active,
        "created_at": now,
        "updated_at": now,
        "deleted_at": None,
    }


async def create_offer(session: AsyncSession, tenant_id: uuid.UUID, body: OfferCreate) -> Offer:
    # The body is a union tagged by kind, so its validation errors are located under the kind.
    await _check_downgrade_target(
        session, tenant_id, body.params, ["body", body.kind, "params", "target_plan_id"]
    )
    offer = Offer(**_row(tenant_id, body, datetime.now(UTC)))
    session.add(offer)
    await session.flush()
    return offer


async def install_default_offers(session: AsyncSession, tenant_id: uuid.UUID) -> None:
    """Give a new tenant the default offers (``app.offers.defaults``), editable like any other."""
    now = datetime.now(UTC)
    rows = [_row(tenant_id, parse_offer_create(data), now) for data in DEFAULT_OFFERS]
    await repository.insert_offers(session, rows)


async def get_offer(session: AsyncSession, tenant_id: uuid.UUID, offer_id: uuid.UUID) -> Offer:
    offer = await repository.get_live_offer(session, tenant_id, offer_id)
    if offer is None:
        raise _not_found(offer_id)
    return offer


async def list_offers(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    *,
    active: bool | None = None,
    kind: str | None = None,
) -> Sequence[Offer]:
    return await repository.list_live_offers(session, tenant_id, active=active, kind=kind)


def _params_for(kind: str, data: object) -> OfferParams:
    try:
        return parse_params(kind, data)
    except ValidationError as exc:
        raise InvalidInput(
            f"Invalid parameters for a {kind} offer; see errors.",
            errors=[
                {
                    "loc": ["body", "params", *error["loc"]],
                    "msg": error["msg"],
                    "type": error["type"],
                }
                for error in exc.errors()
            ],
        ) from None


async def update_offer(
    session: AsyncSession, tenant_id: uuid.UUID, offer_id: uuid.UUID, body: OfferUpdate
) -> Offer:
    changes = body.model_dump(exclude_unset=True)
    offer = await repository.get_live_offer(session, tenant_id, offer_id, for_update=True)
    if offer is None:
        raise _not_found(offer_id)
    kind = changes.pop("kind", offer.kind)
    if kind != offer.kind:
        raise InvalidInput(
            f"An offer's kind cannot change (this one is {offer.kind}); create a new offer.",
            errors=[{"loc": ["body", "kind"], "msg": "kind cannot change", "type": "immutable"}],
        )
    if "params" in changes:
        params = _params_for(offer.kind, changes["params"])
        await _check_downgrade_target(
            session, tenant_id, params, ["body", "params", "target_plan_id"]
        )
        changes["params"] = params.model_dump(mode="json")
    if "rules" in changes:
        assert body.rules is not None
        changes["rules"] = dump_rules(body.rules)
    if changes:
        for name, value in changes.items():
            setattr(offer, name, value)
        offer.updated_at = datetime.now(UTC)
        await session.flush()
    return offer


async def delete_offer(session: AsyncSession, tenant_id: uuid.UUID, offer_id: uuid.UUID) -> None:
    if not await repository.soft_delete_offer(session, tenant_id, offer_id, datetime.now(UTC)):
        raise _not_found(offer_id)


async def get_offer_settings(session: AsyncSession, tenant_id: uuid.UUID) -> OfferSettings:
    """The tenant's settings, or the defaults (unsaved, ``updated_at`` None) when never set."""
    stored = await repository.get_settings(session, tenant_id)
    if stored is not None:
        return stored
    defaults = OfferSettingsPut()
    return OfferSettings(
        tenant_id=tenant_id,
        holdout_share_bp=defaults.holdout_share_bp,
        keep_days=defaults.keep_days,
        updated_at=None,
    )


async def put_offer_settings(
    session: AsyncSession, tenant_id: uuid.UUID, body: OfferSettingsPut
) -> OfferSettings:
    return await repository.upsert_settings(
        session, tenant_id, holdout_share_bp=body.holdout_share_bp, keep_days=body.keep_days
    )
