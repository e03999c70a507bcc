"""All integration routes, registered on the app as one router."""

from __future__ import annotations

from fastapi import APIRouter

from app.integrations.chargebee.endpoints import router as chargebee_router
from app.integrations.cloudevents.endpoints import router as cloudevents_router
from app.integrations.paddle.endpoints import router as paddle_router
from app.integrations.segment.endpoints import settings as segment_settings_router
from app.integrations.segment.endpoints import tracking as segment_tracking_router
from app.integrations.stripe.endpoints import router as stripe_router

router = APIRouter()
router.include_router(stripe_router)
router.include_router(paddle_router)
router.include_router(chargebee_router)
router.include_router(segment_settings_router)
router.include_router(segment_tracking_router)
router.include_router(cloudevents_router)
