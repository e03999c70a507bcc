"""All integration routes, registered on the app as one router."""

from __future__ import annotations

from fastapi import APIRouter

from app.integrations.stripe.endpoints import router as stripe_router

router = APIRouter()
router.include_router(stripe_router)
