"""Job routes (seed 000 §6)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query
from starlette.responses import Response

from api import writes
from api.deps import CurrentPrincipal, Ctx, RequestId
from api.envelope import success
from projections.queries import JobFilter
from schemas.api.common import Envelope, Pagination
from schemas.api.jobs import (
    JOB_TYPE_PATTERN, ExecutionStats, JobList, JobListItem, JobSubmitRequest, JobView, ScheduledJobSubmitRequest,
)
from schemas.job import JobStatus
from taskforge.errors import InvalidInput, NotFound

router = APIRouter(prefix="/jobs", tags=["jobs"])


@router.post("", status_code=201, response_model=Envelope[JobView], summary="Submit a job")
async def submit_job(body: JobSubmitRequest, ctx: Ctx, principal: CurrentPrincipal, request_id: RequestId) -> Response:
    view = await writes.submit_job(ctx, principal, body, request_id)
    return success(view, request_id, message="Job submitted successfully", status_code=201)


@router.post("/scheduled", status_code=201, response_model=Envelope[JobView], summary="Submit a job for a later time")
async def submit_scheduled_job(
    body: ScheduledJobSubmitRequest, ctx: Ctx, principal: CurrentPrincipal, request_id: RequestId
) -> Response:
    view = await writes.submit_job(ctx, principal, body, request_id)
    return success(view, request_id, message="Job scheduled successfully", status_code=201)


def _job_view(row: dict[str, Any]) -> JobView:
    stats = None
    if row["duration_ms"] is not None or row["worker_id"] is not None:
        stats = ExecutionStats(duration_ms=row["duration_ms"], worker_id=row["worker_id"])
    return JobView(
        id=row["id"], queue_id=row["queue_id"], queue_name=row["queue_name"], job_type=row["job_type"],
        payload=orjson.loads(row["payload"]), status=JobStatus(row["status"]), priority=row["priority"],
        max_attempts=row["max_attempts"], attempt_count=row["attempt_count"], output=row["output"],
        error_message=row["error_message"], scheduled_for=row["scheduled_for"], idempotency_key=row["idempotency_key"],
        created_at=row["created_at"], updated_at=row["updated_at"], completed_at=row["completed_at"],
        execution_stats=stats,
    )


@router.get("/{job_id}", response_model=Envelope[JobView], summary="Get a job")
async def get_job(job_id: uuid.UUID, ctx: Ctx, principal: CurrentPrincipal, request_id: RequestId) -> Response:
    principal.require("job:read")
    row = await ctx.jobs.get(principal.tenant, job_id)
    if row is None and await ctx.projector.tail.catch_up():  # read-your-writes: wait for the log's end once
        row = await ctx.jobs.get(principal.tenant, job_id)
    if row is None:
        raise NotFound(f"job {job_id} not found")
    return success(_job_view(row), request_id)


@router.get("", response_model=Envelope[JobList], summary="List jobs")
async def list_jobs(
    ctx: Ctx,
    principal: CurrentPrincipal,
    request_id: RequestId,
    queue_id: uuid.UUID | None = None,
    status: JobStatus | None = None,
    job_type: Annotated[str | None, Query(max_length=100, pattern=JOB_TYPE_PATTERN)] = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> Response:
    principal.require("job:read")
    for name, value in (("created_after", created_after), ("created_before", created_before)):
        if value is not None and value.tzinfo is None:
            raise InvalidInput(f"{name} needs a time zone (e.g. 2026-01-01T00:00:00Z)", details={"field": name})
    where = JobFilter(queue_id=queue_id, status=status.value if status else None, job_type=job_type,
                      created_after=created_after, created_before=created_before)
    result = await ctx.jobs.list(principal.tenant, where, page, limit)
    items = [JobListItem(**{k: v for k, v in row.items() if k in JobListItem.model_fields}) for row in result.rows]
    return success(JobList(jobs=items, pagination=Pagination.of(page, limit, result.total)), request_id)
