"""The one authentication dependency every tenant-scoped endpoint goes through.

An endpoint declares the scope it needs with one of the ``Annotated`` aliases below and receives
a :class:`Principal`; every query it makes is then filtered by ``principal.tenant_id``.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.db import Session
from app.errors import Forbidden, Unauthorized
from app.tenants import keys, service


@dataclass(frozen=True)
class Principal:
    tenant_id: uuid.UUID
    key_id: uuid.UUID
    scopes: frozenset[str]


_bearer = HTTPBearer(auto_error=False, scheme_name="apiKey", description="A Holdfast API key.")


def bearer_token(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None or not credentials.credentials.strip():
        raise Unauthorized("Send an API key as 'Authorization: Bearer <key>'.")
    return credentials.credentials.strip()


async def authenticate(session: Session, token: str) -> Principal:
    """The principal a presented key stands for; 401 for anything that is not a live key."""
    prefix = keys.parse_prefix(token)
    if prefix is None:
        raise Unauthorized("The API key is malformed.")
    row = await service.find_active_key(session, prefix)
    if row is None or not keys.matches(token, row.key_hash):
        raise Unauthorized("The API key is unknown or has been revoked.")
    await service.touch_last_used(session, row, datetime.now(UTC))
    return Principal(tenant_id=row.tenant_id, key_id=row.id, scopes=frozenset(row.scopes))


def require(scope: str) -> Callable[..., Awaitable[Principal]]:
    async def dependency(
        request: Request,
        session: Session,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        principal = await authenticate(session, bearer_token(credentials))
        if not keys.grants(principal.scopes, scope):
            raise Forbidden(f"This operation needs an API key with the '{scope}' scope.")
        request.state.principal = principal
        return principal

    dependency.__name__ = f"require_{scope.replace(':', '_')}"
    return dependency


EventsWriter = Annotated[Principal, Depends(require("events:write"))]
Reader = Annotated[Principal, Depends(require("read"))]
Admin = Annotated[Principal, Depends(require("admin"))]
