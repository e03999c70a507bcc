"""The application factory."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.openapi.utils import get_openapi

from app import __version__
from app.config import Settings
from app.customers.endpoints import router as customers_router
from app.db import Database
from app.events.endpoints import customer_events_router
from app.events.endpoints import router as events_router
from app.events.schemas import EventBatchIn, EventIn
from app.health.endpoints import router as health_settings_router
from app.health.endpoints import scores_router as health_router
from app.integrations.endpoints import router as integrations_router
from app.mediatypes import require_declared_media_type
from app.metrics.endpoints import router as metrics_router
from app.observability import (
    BodyLimitMiddleware,
    HttpMetrics,
    RequestContextMiddleware,
    configure_logging,
)
from app.offers.endpoints import router as offers_router
from app.offers.endpoints import settings_router as offer_settings_router
from app.offers.flows.endpoints import router as flows_router
from app.openapi import Problem, component_schemas, declare_media_type_errors
from app.ops.endpoints import router as ops_router
from app.plans.endpoints import router as plans_router
from app.privacy.endpoints import router as privacy_router
from app.problems import install_problem_handlers
from app.ratelimit.middleware import RateLimitMiddleware
from app.scheduler import HealthScorer, RescoreScheduler
from app.signals.endpoints import router as signal_settings_router
from app.tenants.endpoints import router as api_keys_router
from app.web.endpoints import STATIC_PATH, static_files
from app.web.endpoints import router as dashboard_router
from app.webhooks.endpoints import router as webhooks_router
from app.webhooks.worker import DeliveryWorker

DESCRIPTION = """
Holdfast ingests subscription lifecycle events, keeps an explainable health score for every
customer, computes churn metrics and runs cancellation flows.

Authenticate with `Authorization: Bearer <api key>`. Errors are `application/problem+json`
(RFC 9457); validation errors list `errors: [{loc, msg}]`. Money is integer minor units with an
ISO 4217 currency; times are ISO 8601 with an offset and stored in UTC.
"""


def create_worker_app() -> FastAPI:
    """The app of one of several ``holdfast serve --workers`` processes, configured (like the
    process that started it) from the environment."""
    settings = Settings()
    configure_logging(settings.log_level)
    return create_app(settings)


def create_app(settings: Settings | None = None, database: Database | None = None) -> FastAPI:
    """Build the app. With ``database`` given (tests), the lifespan leaves it alone; otherwise the
    lifespan creates the engine from ``settings.database_url``, starts the background workers
    and stops them and disposes the engine on shutdown."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = app.state.database is None
        if owned:
            if settings.database_url is None:
                raise RuntimeError("database_url is not set; start through `holdfast serve`")
            app.state.database = Database.from_url(settings.database_url, settings)
            if settings.rescore_interval_s > 0:
                app.state.rescore_scheduler = RescoreScheduler(
                    app.state.database, settings.rescore_interval_s
                )
                app.state.rescore_scheduler.start()
            if settings.health_drain_interval_s > 0:
                app.state.health_scorer = HealthScorer(
                    settings.database_url,
                    settings,
                    registry=app.state.http_metrics.registry,
                )
                app.state.health_scorer.start()
            if settings.webhook_worker_enabled:
                app.state.webhook_worker = DeliveryWorker.from_settings(
                    app.state.database, settings
                )
                app.state.webhook_worker.start()
        # Start-up objects (modules, routes, schemas) never die: keep the collector from walking
        # them again on every cycle (measured: lower p99 and higher throughput under load).
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            if app.state.rescore_scheduler is not None:
                await app.state.rescore_scheduler.stop()
                app.state.rescore_scheduler = None
            if app.state.health_scorer is not None:
                await app.state.health_scorer.stop()
                app.state.health_scorer = None
            if app.state.webhook_worker is not None:
                await app.state.webhook_worker.stop()
                app.state.webhook_worker = None
            if owned:
                await app.state.database.dispose()
                app.state.database = None

    app = FastAPI(
        title="Holdfast",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        dependencies=[Depends(require_declared_media_type)],
    )
    app.state.settings = settings
    app.state.database = database
    app.state.webhook_worker = None
    app.state.rescore_scheduler = None
    app.state.health_scorer = None
    app.state.http_metrics = HttpMetrics()

    install_problem_handlers(app)
    app.include_router(ops_router)
    app.include_router(api_keys_router)
    app.include_router(events_router)
    app.include_router(customers_router)
    app.include_router(customer_events_router)
    app.include_router(health_settings_router)
    app.include_router(health_router)
    app.include_router(plans_router)
    app.include_router(offers_router)
    app.include_router(offer_settings_router)
    app.include_router(flows_router)
    app.include_router(webhooks_router)
    app.include_router(integrations_router)
    app.include_router(metrics_router)
    app.include_router(privacy_router)
    app.include_router(signal_settings_router)
    app.include_router(dashboard_router)
    app.mount(STATIC_PATH, static_files(), name="dashboard-static")

    app.add_middleware(BodyLimitMiddleware, limit=settings.max_body_bytes)
    app.add_middleware(
        RateLimitMiddleware, rate_per_s=settings.rate_limit_per_s, burst=settings.rate_limit_burst
    )
    app.add_middleware(
        RequestContextMiddleware,
        metrics=app.state.http_metrics,
        retry_after_s=settings.retry_after_s,
    )

    def custom_openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.update(component_schemas(Problem, EventIn, EventBatchIn))
            declare_media_type_errors(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = custom_openapi  # type: ignore[method-assign]
    return app
