"""Liveness and readiness, without auth."""

from __future__ import annotations

import time

from fastapi import APIRouter
from starlette.responses import Response

from api.deps import Ctx, RequestId
from api.envelope import failure, success

router = APIRouter(tags=["health"])
_STARTED = time.monotonic()


@router.get("/health", summary="The process is alive")
async def health(request_id: RequestId) -> Response:
    return success({"status": "ok", "uptime_seconds": round(time.monotonic() - _STARTED, 3)}, request_id)


@router.get("/ready", summary="Kafka and ClickHouse are reachable, the bootstrap tenant is in place")
async def ready(ctx: Ctx, request_id: RequestId) -> Response:
    checks = {
        "kafka": ctx.event_log.connected and await ctx.projector.tail.catch_up(timeout=1.0),
        "clickhouse": await ctx.store.ping(),
        "identity": ctx.bootstrapped.is_set(),
    }
    if all(checks.values()):
        return success({"status": "ready", "checks": checks}, request_id)
    return failure(503, "SERVICE_UNAVAILABLE", "not ready: " + ", ".join(k for k, ok in checks.items() if not ok),
                   request_id, details={"checks": checks}, headers={"Retry-After": "1"})
