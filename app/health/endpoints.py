from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from app import cursors
from app.db import Session
from app.errors import InvalidInput
from app.health import backtesting, queries, service
from app.health.schemas import (
    BacktestRead,
    CustomerList,
    HealthHistory,
    HealthLookupIn,
    HealthLookupOut,
    HealthRead,
    HealthSettingsRead,
    LearnedModelList,
    LearnedModelRead,
    TierTrendRead,
)
from app.health.settings import HealthSettings
from app.ids import ID_PATTERN
from app.inputs import DayParam, TimeParam
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


scores_router = APIRouter(tags=["health"])

CustomerIdPath = Annotated[str, Path(min_length=1, max_length=200, pattern=ID_PATTERN)]
AsOf = Annotated[
    TimeParam | None,
    Query(
        description="Score as of this past instant, from the events that had occurred by "
        "then (ISO 8601 with offset). Default: now."
    ),
]


def _past(as_of: datetime | None, loc: str = "as_of") -> datetime | None:
    if as_of is not None and as_of > datetime.now(UTC):
        raise InvalidInput(
            "as_of must not be in the future.",
            errors=[
                {"loc": ["query", loc], "msg": "must not be in the future", "type": "value_error"}
            ],
        )
    return as_of


@scores_router.get(
    "/v1/customers/{customer_id}/health",
    response_model=HealthRead,
    responses=responses(401, 403, 404, 422),
    summary="A customer's health score, explained",
    description="Computed fresh (recency decays even without new events), or as of a past "
    "instant. `factors` lists each factor's measured value, sub-score, weight and "
    "contribution; the contributions add up to `score`. Tiers: healthy, at_risk, critical.",
)
async def get_customer_health(
    customer_id: CustomerIdPath, principal: Reader, session: Session, as_of: AsOf = None
) -> HealthRead:
    return await queries.customer_health(session, principal.tenant_id, customer_id, _past(as_of))


@scores_router.get(
    "/v1/customers/{customer_id}/health/history",
    response_model=HealthHistory,
    responses=responses(401, 403, 404, 422),
    summary="A customer's daily health snapshots",
)
async def get_customer_health_history(
    customer_id: CustomerIdPath,
    principal: Reader,
    session: Session,
    start: Annotated[DayParam | None, Query(description="First day (UTC), inclusive.")] = None,
    end: Annotated[DayParam | None, Query(description="Last day (UTC), inclusive.")] = None,
) -> HealthHistory:
    snapshots = await queries.health_history(session, principal.tenant_id, customer_id, start, end)
    return HealthHistory(customer_id=customer_id, snapshots=snapshots)


@scores_router.post(
    "/v1/health/lookup",
    response_model=HealthLookupOut,
    responses=responses(401, 403, 422),
    summary="Scores of up to 1000 customers in one call",
)
async def lookup_health(
    body: HealthLookupIn, principal: Reader, session: Session
) -> HealthLookupOut:
    ids = list(dict.fromkeys(body.customer_ids))
    found = await queries.health_of(session, principal.tenant_id, ids, _past(body.as_of))
    return HealthLookupOut(
        results=[found[cid] for cid in ids if cid in found],
        not_found=[cid for cid in ids if cid not in found],
    )


@scores_router.get(
    "/v1/customers",
    response_model=CustomerList,
    responses=responses(401, 403, 422),
    summary="Customers by health: who needs attention",
    description="Customers with their latest materialised score (refreshed within seconds of "
    "their events by the health scorer, and by the periodic rescore), its change over 7 and 30 "
    "days, and their status now. "
    "`order=score` lists the lowest scores first.",
)
async def list_customers(
    principal: Reader,
    session: Session,
    tier: Annotated[Literal["healthy", "at_risk", "critical"] | None, Query()] = None,
    status: Annotated[Literal["lead", "active", "paused", "cancelled"] | None, Query()] = None,
    order: Annotated[Literal["score", "-score", "customer_id"], Query()] = "score",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[
        str | None,
        Query(
            max_length=cursors.SCORE_ID_MAX_LENGTH,
            pattern=cursors.SCORE_ID_PATTERN,
            description=cursors.SCORE_ID_DESCRIPTION,
        ),
    ] = None,
) -> CustomerList:
    items, next_cursor = await queries.list_customers(
        session,
        principal.tenant_id,
        tier=tier,
        status=status,
        order=order,
        limit=limit,
        cursor=cursor,
    )
    return CustomerList(items=items, next_cursor=next_cursor)


@scores_router.get(
    "/v1/health/tiers",
    response_model=TierTrendRead,
    responses=responses(401, 403, 422),
    summary="Subscribers per health tier, day by day",
    description="For each day of `[start, end]` (UTC dates, both inclusive; default: the 90 "
    "days ending today; at most 366 days) that has daily snapshots: how many subscribers "
    "were in each tier. A subscriber on a day is a customer whose status at the end of that "
    "day (now, for today) was active or paused, from its status changes (a change effective "
    "exactly at midnight belongs to the next day, as in the churn metrics); its tier is the "
    "one of its snapshot of that day. Subscribers with no snapshot that day are not counted; "
    "`unscored` counts those whose snapshot had no score. Snapshots are written by the "
    "periodic rescore (one per customer per day), so days before the first rescore are absent.",
)
async def get_tier_trend(
    principal: Reader,
    session: Session,
    start: Annotated[DayParam | None, Query(description="First day (UTC), inclusive.")] = None,
    end: Annotated[DayParam | None, Query(description="Last day (UTC), inclusive.")] = None,
) -> TierTrendRead:
    return await queries.tier_trend(session, principal.tenant_id, start, end)


@scores_router.get(
    "/v1/health/backtest",
    response_model=BacktestRead,
    responses=responses(401, 403, 422),
    summary="How well the score predicted churn",
    description="Scores every customer active at `as_of` (and buyers without a subscription, "
    "when the tenant counts them) from the events that had occurred by then, with the "
    "learned model trained on labels known by `as_of` (trained now if needed) and with the "
    "expert model, and compares with what happened over the next `horizon_days`: both AUCs, "
    "churn rate per tier, and predicted vs observed churn per decile of risk. "
    "`as_of + horizon_days` must be in the past.",
)
async def health_backtest(
    principal: Reader,
    session: Session,
    as_of: Annotated[TimeParam, Query(description="The instant to score at.")],
    horizon_days: Annotated[int, Query(ge=1, le=365)] = 30,
) -> BacktestRead:
    return await backtesting.run_backtest(session, principal.tenant_id, as_of, horizon_days)


@scores_router.post(
    "/v1/health/models",
    response_model=LearnedModelRead,
    responses=responses(401, 403),
    summary="Train the tenant's learned health model now",
    description="Trains on the tenant's own history (examples at past cutoffs, labels known by "
    "now) and stores the result as the next model version. It scores the tenant's customers "
    "only when it beat the expert model on the latest cutoffs (never used to fit) with enough "
    "churners; `reason` says which model is in use and why.",
)
async def train_health_model(principal: Admin, session: Session) -> LearnedModelRead:
    return await queries.train_model(session, principal.tenant_id)


@scores_router.get(
    "/v1/health/models",
    response_model=LearnedModelList,
    responses=responses(401, 403),
    summary="The tenant's learned health models, newest first",
)
async def list_health_models(principal: Reader, session: Session) -> LearnedModelList:
    return await queries.learned_models(session, principal.tenant_id)
