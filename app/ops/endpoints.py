"""Liveness, readiness and Prometheus metrics: unauthenticated, for orchestrators."""

from __future__ import annotations

import asyncio
from typing import Literal

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from app.db import get_database
from app.errors import ServiceUnavailable
from app.openapi import responses

router = APIRouter(tags=["operations"])

_READY_TIMEOUT_S = 3.0


class Status(BaseModel):
    status: Literal["ok", "ready"]


@router.get("/healthz", response_model=Status, summary="The process is up")
async def liveness() -> Status:
    return Status(status="ok")


@router.get(
    "/readyz", response_model=Status, responses=responses(503), summary="The database answers"
)
async def readiness(request: Request) -> Status:
    try:
        await asyncio.wait_for(get_database(request).ping(), timeout=_READY_TIMEOUT_S)
    except Exception as exc:
        raise ServiceUnavailable("The database does not answer.") from exc
    return Status(status="ready")


@router.get(
    "/metrics",
    response_class=Response,
    summary="Prometheus metrics",
    responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
)
async def prometheus_metrics(request: Request) -> Response:
    body = generate_latest(request.app.state.http_metrics.registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
