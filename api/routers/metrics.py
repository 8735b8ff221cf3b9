"""Metrics routes (seed 000 §11): a queue's figures for a period, and the system's.

Every figure about jobs, queues and workers is the caller's tenant's; the host and pipeline
figures are the platform's own and say nothing about other tenants.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.responses import Response

from api.deps import CurrentPrincipal, Ctx, RequestId
from api.envelope import success
from api.prometheus import PROCESSING_BUCKETS_MS, SUBMIT_TO_START_BUCKETS_MS, exposition
from projections.queries import storage_health
from schemas.api.common import Envelope
from schemas.api.metrics import (
    HostMetrics, Period, PipelineMetrics, QueueMetrics, QueueMetricsStats, QueueTotals, SystemMetrics, WorkerTotals,
)
from streams.deciders.worker import shown_status
from taskforge.errors import InvalidInput, NotFound, check_time_filter

router = APIRouter(prefix="/metrics", tags=["metrics"])

MAX_PERIOD = timedelta(days=31)
DEFAULT_PERIOD = timedelta(hours=1)


def _period(now: datetime, start: datetime | None, end: datetime | None) -> Period:
    check_time_filter("start", start)
    check_time_filter("end", end)
    end = end or now
    start = start or end - DEFAULT_PERIOD
    if start >= end:
        raise InvalidInput("start must be before end", details={"field": "start"})
    if end - start > MAX_PERIOD:
        raise InvalidInput(f"a period is at most {MAX_PERIOD.days} days", details={"field": "start"})
    return Period(start=start, end=end)


@router.get("/queues/{queue_id}", response_model=Envelope[QueueMetrics],
            summary="A queue's depth now and its throughput, latency and error rate over a period (default: the last hour)")
async def queue_metrics(
    queue_id: uuid.UUID, ctx: Ctx, principal: CurrentPrincipal, request_id: RequestId,
    start: Annotated[datetime | None, Query(description="ISO 8601 with a time zone")] = None,
    end: Annotated[datetime | None, Query(description="ISO 8601 with a time zone; default now")] = None,
) -> Response:
    principal.require("queue:read")
    period = _period(ctx.clock.now(), start, end)
    queue = await ctx.queues.find(principal.tenant, queue_id)
    if queue is None:
        raise NotFound(f"queue {queue_id} not found")
    m = await ctx.jobs.queue_metrics(principal.tenant, queue_id, period.start, period.end)
    finished = m.succeeded + m.failed
    minutes = (period.end - period.start).total_seconds() / 60
    stats = QueueMetricsStats(
        pending_jobs=m.pending, processing_jobs=m.processing, succeeded_jobs=m.succeeded, failed_jobs=m.failed,
        avg_processing_time_ms=m.avg_ms, p95_processing_time_ms=m.p95_ms, p99_processing_time_ms=m.p99_ms,
        throughput_per_minute=round(finished / minutes, 2),
        error_rate_percent=round(100 * m.failed / finished, 2) if finished else 0.0,
    )
    return success(QueueMetrics(queue_id=queue.id, name=queue.name, stats=stats, period=period), request_id)


@router.get("/system", response_model=Envelope[SystemMetrics], summary="Host, pipeline, queue and worker totals")
async def system_metrics(ctx: Ctx, principal: CurrentPrincipal, request_id: RequestId) -> Response:
    principal.require("queue:read")
    now = ctx.clock.now()
    queues = ctx.queues.of_tenant(principal.tenant)
    counts = await ctx.jobs.counts_by_queue(principal.tenant, [q.id for q in queues])

    def total(status: str) -> int:
        return sum(by_status.get(status, 0) for by_status in counts.values())

    statuses = [shown_status(w, now) for w in ctx.workers.of_tenant(principal.tenant)]
    statuses = [status for status in statuses if status != "deregistered"]
    storage = await storage_health(ctx.store)
    metrics = SystemMetrics(
        system=HostMetrics(**ctx.host.reading(ctx.settings.data_dir)),
        pipeline=PipelineMetrics(
            kafka_bootstrap_servers=ctx.settings.bootstrap_servers,
            clickhouse_backend="chdb" if ctx.settings.clickhouse_is_embedded else "http",
            projector_lag_events=await ctx.projector.tail.lag(),
            clickhouse_active_parts=storage.active_parts,
            clickhouse_merges_running=storage.merges_running,
        ),
        queues=QueueTotals(
            total=len(queues), active=sum(1 for q in queues if q.is_active), paused=sum(1 for q in queues if not q.is_active),
            total_pending_jobs=total("pending"), total_processing_jobs=total("processing"),
            total_succeeded_jobs=total("succeeded"), total_failed_jobs=total("failed") + total("dead_lettered"),
        ),
        workers=WorkerTotals(
            total=len(statuses), online=statuses.count("online"), offline=statuses.count("offline"),
            draining=statuses.count("draining"),
            total_active_jobs=total("processing"),
        ),
    )
    return success(metrics, request_id)


prometheus_router = APIRouter(tags=["metrics"])


@prometheus_router.get("/metrics", summary="Prometheus exposition: API traffic, the tenant's jobs, projector lag",
                       responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}},
                                        "description": "Prometheus text format"}})
async def prometheus_metrics(ctx: Ctx, principal: CurrentPrincipal) -> Response:
    principal.require("queue:read")
    tenant = principal.tenant
    by_status, processing, waiting, lag = await asyncio.gather(
        ctx.jobs.jobs_by_queue_and_status(tenant),
        ctx.jobs.histogram_by_queue(tenant, "processing", PROCESSING_BUCKETS_MS),
        ctx.jobs.histogram_by_queue(tenant, "waiting", SUBMIT_TO_START_BUCKETS_MS),
        ctx.projector.tail.lag(),
    )
    return Response(exposition(by_status, processing, waiting, lag), media_type=CONTENT_TYPE_LATEST)
