from __future__ import annotations

import uuid

from fastapi import APIRouter, Response

from app.db import Session
from app.openapi import responses
from app.tenants import service
from app.tenants.auth import Admin
from app.tenants.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyList, ApiKeyRead

router = APIRouter(prefix="/v1/api-keys", tags=["api keys"])


@router.post(
    "",
    status_code=201,
    response_model=ApiKeyCreated,
    responses=responses(401, 403, 422),
    summary="Create a scoped API key (shown once)",
)
async def create_api_key(body: ApiKeyCreate, principal: Admin, session: Session) -> ApiKeyCreated:
    created = await service.create_api_key(
        session, principal.tenant_id, name=body.name, scopes=body.scopes
    )
    read = ApiKeyRead.model_validate(created.row)
    return ApiKeyCreated(**read.model_dump(), key=created.plaintext)


@router.get(
    "",
    response_model=ApiKeyList,
    responses=responses(401, 403),
    summary="List the tenant's API keys (never the keys themselves)",
)
async def list_api_keys(principal: Admin, session: Session) -> ApiKeyList:
    rows = await service.list_api_keys(session, principal.tenant_id)
    return ApiKeyList(items=[ApiKeyRead.model_validate(row) for row in rows])


@router.delete(
    "/{key_id}",
    status_code=204,
    responses=responses(401, 403, 404, 422),
    summary="Revoke an API key",
)
async def revoke_api_key(key_id: uuid.UUID, principal: Admin, session: Session) -> Response:
    await service.revoke_api_key(session, principal.tenant_id, key_id)
    return Response(status_code=204)
