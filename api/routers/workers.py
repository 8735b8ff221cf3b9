"""Worker routes (seed 000 §7) and the lease call of the worker protocol."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from api import workers
from api.deps import CurrentPrincipal, Ctx, RequestId
from api.envelope import success
from api.identity import visible_project
from schemas.api.common import Envelope
from schemas.api.workers import (
    HeartbeatView, LeaseRequest, LeaseResponse, WorkerList, WorkerRegisterRequest, WorkerView,
)
from schemas.envelope import Tenant
from taskforge.errors import NotFound

router = APIRouter(prefix="/workers", tags=["workers"])


@router.post("", status_code=201, response_model=Envelope[WorkerView], summary="Register a worker")
async def register(body: WorkerRegisterRequest, ctx: Ctx, principal: CurrentPrincipal, request_id: RequestId) -> Response:
    view = await workers.register(ctx, principal, body, request_id)
    return success(view, request_id, message="Worker registered successfully", status_code=201)


@router.get("", response_model=Envelope[WorkerList], summary="List workers")
async def list_workers(
    ctx: Ctx, principal: CurrentPrincipal, request_id: RequestId,
    project_id: Annotated[uuid.UUID | None, Query(description="Another project of the caller's organization that "
                                                   "the caller may use; default: the project it acts on.")] = None,
    worker_type: Annotated[str | None, Query(max_length=100)] = None,
    status: Annotated[str | None, Query(pattern="^(online|draining|offline|deregistered)$")] = None,
) -> Response:
    principal.require("worker:read")
    tenant = principal.tenant
    if project_id is not None:
        tenant = Tenant(organization_id=principal.organization_id,
                        project_id=visible_project(ctx, principal, project_id).id)
    views = await workers.worker_views(ctx, tenant, ctx.workers.of_tenant(tenant))
    views = [v for v in views if (worker_type is None or v.worker_type == worker_type)
             and (status is None or v.status == status)]
    views.sort(key=lambda v: v.registered_at, reverse=True)
    return success(WorkerList(workers=views, total=len(views)), request_id)


@router.get("/{worker_id}", response_model=Envelope[WorkerView], summary="Get a worker")
async def get_worker(worker_id: uuid.UUID, ctx: Ctx, principal: CurrentPrincipal, request_id: RequestId) -> Response:
    principal.require("worker:read")
    worker = await ctx.workers.find(principal.tenant, worker_id)
    if worker is None:
        raise NotFound(f"worker {worker_id} not found")
    return success((await workers.worker_views(ctx, principal.tenant, [worker]))[0], request_id)


@router.post("/{worker_id}/heartbeat", response_model=Envelope[HeartbeatView], summary="Heartbeat")
async def heartbeat(worker_id: uuid.UUID, ctx: Ctx, principal: CurrentPrincipal, request_id: RequestId) -> Response:
    return success(await workers.heartbeat(ctx, principal, worker_id, request_id), request_id)


@router.post("/{worker_id}/drain", response_model=Envelope[WorkerView], summary="Stop giving this worker new work")
async def drain(worker_id: uuid.UUID, ctx: Ctx, principal: CurrentPrincipal, request_id: RequestId) -> Response:
    return success(await workers.drain(ctx, principal, worker_id, request_id), request_id, message="Worker draining")


@router.delete("/{worker_id}", response_model=Envelope[WorkerView], summary="Deregister a worker")
async def deregister(worker_id: uuid.UUID, ctx: Ctx, principal: CurrentPrincipal, request_id: RequestId) -> Response:
    return success(await workers.deregister(ctx, principal, worker_id, request_id), request_id,
                   message="Worker deregistered")


@router.post("/{worker_id}/lease", response_model=Envelope[LeaseResponse], summary="Lease jobs (long-poll)",
             description="Up to max_jobs jobs of the worker's queues and job types, each with a lease id and "
             "deadline. Waits up to wait_seconds for work when the call names one queue (or the worker has one).")
async def lease(worker_id: uuid.UUID, body: LeaseRequest, ctx: Ctx, principal: CurrentPrincipal,
                request_id: RequestId) -> Response:
    jobs = await workers.lease(ctx, principal, worker_id, body)
    return success(LeaseResponse(jobs=jobs), request_id)
