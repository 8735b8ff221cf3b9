"""Job routes (seed 000 §6)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import orjson
from fastapi import APIRouter, Query
from starlette.responses import Response

from api import writes
from api.deps import CurrentPrincipal, Ctx, RequestId
from api.envelope import success
from projections.job_stats import job_stats
from api.views import job_view_from_row
from projections.queries import JobFilter, JobSort
from schemas.api.common import Envelope, Pagination
from schemas.api.jobs import (
    JOB_TYPE_PATTERN, JobBatchRequest, JobBatchResult, JobEventView, JobHistory, JobList, JobListItem, JobStats,
    JobSubmitRequest, JobView, ScheduledJobSubmitRequest,
)
from schemas.api.workers import (
    CompleteBatchRequest, CompleteRequest, ExtendRequest, FailBatchRequest, FailRequest, ReportBatchResult,
)
from schemas.job import JobStatus
from taskforge.errors import NotFound, check_time_filter

router = APIRouter(prefix="/jobs", tags=["jobs"])


_SUBMIT_DOC = ("201 with the new job; 200 with the original job when the idempotency key was used before in "
               "this project (a racing repeat included).")


@router.post("", status_code=201, response_model=Envelope[JobView], summary="Submit a job", description=_SUBMIT_DOC,
             responses={200: {"model": Envelope[JobView], "description": "An idempotent repeat: the original job"}})
async def submit_job(body: JobSubmitRequest, ctx: Ctx, principal: CurrentPrincipal, request_id: RequestId) -> Response:
    view, created = await writes.submit_job(ctx, principal, body, request_id)
    if created:
        return success(view, request_id, message="Job submitted successfully", status_code=201)
    return success(view, request_id, message="Job already submitted with this idempotency key", status_code=200)


@router.post("/scheduled", status_code=201, response_model=Envelope[JobView], summary="Submit a job for a later time",
             description=_SUBMIT_DOC,
             responses={200: {"model": Envelope[JobView], "description": "An idempotent repeat: the original job"}})
async def submit_scheduled_job(
    body: ScheduledJobSubmitRequest, ctx: Ctx, principal: CurrentPrincipal, request_id: RequestId
) -> Response:
    view, created = await writes.submit_job(ctx, principal, body, request_id)
    if created:
        return success(view, request_id, message="Job scheduled successfully", status_code=201)
    return success(view, request_id, message="Job already submitted with this idempotency key", status_code=200)


@router.post("/batch", response_model=Envelope[JobBatchResult], summary="Submit up to 1,000 jobs at once",
             description="Each item is validated and answered on its own (`results[i].status` is what POST /jobs "
             "would have answered); the request fails as a whole only when its shape is wrong or Kafka is down.")
async def submit_jobs(body: JobBatchRequest, ctx: Ctx, principal: CurrentPrincipal, request_id: RequestId) -> Response:
    result = await writes.submit_jobs(ctx, principal, body.jobs, request_id)
    return success(result, request_id, message=f"{result.submitted} submitted, {result.duplicates} already there, "
                   f"{result.failed} refused")


@router.post("/batch/complete", response_model=Envelope[ReportBatchResult], summary="Report many successes",
             description="Up to 1,000 completions in one call, each decided and answered on its own.")
async def complete_jobs(body: CompleteBatchRequest, ctx: Ctx, principal: CurrentPrincipal,
                        request_id: RequestId) -> Response:
    result = await writes.report_many(ctx, principal, body.reports, request_id)
    return success(result, request_id, message=f"{result.accepted} recorded, {result.refused} refused")


@router.post("/batch/fail", response_model=Envelope[ReportBatchResult], summary="Report many failures",
             description="Up to 1,000 failures in one call, each decided and answered on its own.")
async def fail_jobs(body: FailBatchRequest, ctx: Ctx, principal: CurrentPrincipal, request_id: RequestId) -> Response:
    result = await writes.report_many(ctx, principal, body.reports, request_id)
    return success(result, request_id, message=f"{result.accepted} recorded, {result.refused} refused")


@router.post("/{job_id}/complete", response_model=Envelope[JobView], summary="Report success (worker)",
             description="409 when the lease expired or was superseded (the report is recorded).")
async def complete_job(job_id: uuid.UUID, body: CompleteRequest, ctx: Ctx, principal: CurrentPrincipal,
                       request_id: RequestId) -> Response:
    return success(await writes.report(ctx, principal, job_id, body, request_id), request_id, message="Job completed")


@router.post("/{job_id}/fail", response_model=Envelope[JobView], summary="Report failure (worker)",
             description="retryable=false ends the job; retry_delay_seconds overrides the backoff. 409 when stale.")
async def fail_job(job_id: uuid.UUID, body: FailRequest, ctx: Ctx, principal: CurrentPrincipal,
                   request_id: RequestId) -> Response:
    return success(await writes.report(ctx, principal, job_id, body, request_id), request_id,
                   message="Job failure recorded")


@router.post("/{job_id}/extend", response_model=Envelope[JobView], summary="Extend a lease (worker)",
             description="The new deadline is now + seconds. 409 when stale.")
async def extend_lease(job_id: uuid.UUID, body: ExtendRequest, ctx: Ctx, principal: CurrentPrincipal,
                       request_id: RequestId) -> Response:
    return success(await writes.report(ctx, principal, job_id, body, request_id), request_id, message="Lease extended")


@router.post("/{job_id}/cancel", response_model=Envelope[JobView], summary="Cancel a pending or scheduled job",
             description="Decided by the job's owner. 409 unless the job is pending or scheduled.")
async def cancel_job(job_id: uuid.UUID, ctx: Ctx, principal: CurrentPrincipal, request_id: RequestId) -> Response:
    view = await writes.cancel_job(ctx, principal, job_id, request_id)
    return success(view, request_id, message="Job cancelled successfully")


@router.post("/{job_id}/retry", response_model=Envelope[JobView], summary="Retry a failed or dead-lettered job",
             description="Decided by the job's owner: starts a new round of attempts. 409 unless the job is failed "
             "or dead-lettered.")
async def retry_job(job_id: uuid.UUID, ctx: Ctx, principal: CurrentPrincipal, request_id: RequestId) -> Response:
    view = await writes.retry_job(ctx, principal, job_id, request_id)
    return success(view, request_id, message="Job retry scheduled successfully")


@router.get("/{job_id}", response_model=Envelope[JobView], summary="Get a job")
async def get_job(job_id: uuid.UUID, ctx: Ctx, principal: CurrentPrincipal, request_id: RequestId) -> Response:
    principal.require("job:read")
    row = await ctx.jobs.get(principal.tenant, job_id)
    if row is None and await ctx.projector.tail.catch_up():  # read-your-writes: wait for the log's end once
        row = await ctx.jobs.get(principal.tenant, job_id)
    if row is None:
        raise NotFound(f"job {job_id} not found")
    return success(job_view_from_row(row), request_id)


@router.get("/{job_id}/events", response_model=Envelope[JobHistory], summary="A job's history (audit trail)",
            description="Every event of the job in the order its owner decided them: type, time, actor, request.")
async def job_events(job_id: uuid.UUID, ctx: Ctx, principal: CurrentPrincipal, request_id: RequestId) -> Response:
    principal.require("job:read")
    await ctx.projector.tail.catch_up()  # a history must not miss what was acknowledged before this request
    rows = await ctx.jobs.history(principal.tenant, job_id)
    if not rows:
        raise NotFound(f"job {job_id} not found")
    events = [JobEventView(**{**row, "data": orjson.loads(row["data"])}) for row in rows]
    return success(JobHistory(job_id=job_id, events=events), request_id)


@router.get("/{job_id}/stats", response_model=Envelope[JobStats], summary="A job's attempts and timings",
            description="Derived from the job's history: wait before the first lease, each attempt, total time.")
async def get_job_stats(job_id: uuid.UUID, ctx: Ctx, principal: CurrentPrincipal, request_id: RequestId) -> Response:
    principal.require("job:read")
    await ctx.projector.tail.catch_up()
    rows = await ctx.jobs.history(principal.tenant, job_id)
    if not rows:
        raise NotFound(f"job {job_id} not found")
    history = [{**row, "data": orjson.loads(row["data"])} for row in rows]
    return success(job_stats(job_id, history), request_id)


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
    sort: Annotated[JobSort, Query(description="-created_at: newest first (default); created_at: oldest first; "
                                               "-priority: highest first, then oldest first (the order workers "
                                               "get them); priority: lowest first")] = JobSort.NEWEST_FIRST,
) -> Response:
    principal.require("job:read")
    check_time_filter("created_after", created_after)
    check_time_filter("created_before", created_before)
    where = JobFilter(queue_id=queue_id, status=status.value if status else None, job_type=job_type,
                      created_after=created_after, created_before=created_before)
    result = await ctx.jobs.list(principal.tenant, where, page, limit, sort)
    items = [JobListItem(**{k: v for k, v in row.items() if k in JobListItem.model_fields}) for row in result.rows]
    return success(JobList(jobs=items, pagination=Pagination.of(page, limit, result.total)), request_id)
