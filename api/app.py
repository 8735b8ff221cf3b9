"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from api.context import AppContext
from api.errors import install_error_handlers
from api import route_names
from api.middleware import EdgeMiddleware
from api.routers import api_keys, auth, health, jobs, metrics, oauth, organizations, projects, queues, users, workers
from schemas.api.common import ErrorEnvelope
from taskforge.clock import Clock
from taskforge.settings import Settings

API_PREFIX = "/api/v1"
_ERRORS = {code: {"model": ErrorEnvelope} for code in (400, 401, 403, 404, 409, 413, 415, 422, 429, 503)}


def create_app(settings: Settings, clock: Clock | None = None) -> FastAPI:
    context = AppContext.build(settings, clock)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await context.start()
        try:
            yield
        finally:
            await context.stop()

    app = FastAPI(
        title="TaskForge API",
        version="0.1.0",
        description="Event-sourced background jobs on Apache Kafka. Every /api/v1 route but register, login, "
        "refresh and the OAuth2 token endpoint needs `Authorization: Bearer <access token or API key>` or "
        "`X-API-Key: tf_...`. Every response carries X-RateLimit-* headers; 429 answers carry Retry-After.",
        lifespan=lifespan,
        responses={401: {"model": ErrorEnvelope}, 422: {"model": ErrorEnvelope}},
    )
    app.state.context = context
    install_error_handlers(app)
    app.add_middleware(EdgeMiddleware, max_request_bytes=settings.max_request_bytes)
    if settings.cors_origins:  # outermost, so that preflights are answered before anything else
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_credentials=False,
                           allow_methods=["GET", "POST", "PUT", "DELETE"],
                           allow_headers=["Authorization", "Content-Type", "X-API-Key", "X-Project-Id", "X-Request-Id"],
                           expose_headers=["X-Request-Id", "X-RateLimit-Limit", "X-RateLimit-Remaining",
                                           "X-RateLimit-Reset", "Retry-After"])
    app.include_router(health.router)
    api_routers = [auth.router, users.router, organizations.router, projects.router, api_keys.router, oauth.router,
                   queues.router, jobs.router, workers.router, metrics.router, metrics.prometheus_router]
    for router in api_routers:
        app.include_router(router, prefix=API_PREFIX, responses=_ERRORS)
    setattr(app.state, route_names.STATE_KEY, route_names.full_templates(API_PREFIX, api_routers))
    return app
