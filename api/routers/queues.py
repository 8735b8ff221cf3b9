"""Queue routes (seed 000 §5)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from api import writes
from api.auth import Principal
from api.context import AppContext
from api.deps import CurrentPrincipal, Ctx, RequestId
from api.envelope import success
from projections.queue_directory import QueueEntry
from schemas.api.common import Envelope, Pagination
from schemas.api.queues import (
    QueueCreateRequest, QueueList, QueueStats, QueueUpdateRequest, QueueView, QueueWithStats,
)
from taskforge.errors import NotFound

router = APIRouter(prefix="/queues", tags=["queues"])


@router.post("", status_code=201, response_model=Envelope[QueueView], summary="Create a queue")
async def create_queue(body: QueueCreateRequest, ctx: Ctx, principal: CurrentPrincipal, request_id: RequestId) -> Response:
    view = await writes.create_queue(ctx, principal, body, request_id)
    return success(view, request_id, message="Queue created successfully", status_code=201)


async def _with_stats(ctx: AppContext, principal: Principal, entries: list[QueueEntry]) -> list[QueueWithStats]:
    counts = await ctx.jobs.counts_by_queue(principal.tenant, [e.id for e in entries])
    return [
        QueueWithStats(
            id=e.id, project_id=e.tenant.project_id, name=e.name, description=e.description, priority=e.priority,
            settings=e.settings, is_active=e.is_active, created_at=e.created_at, updated_at=e.updated_at,
            stats=QueueStats(**{f"{status}_jobs": n for status, n in counts.get(e.id, {}).items()}),
        )
        for e in entries
    ]


@router.get("", response_model=Envelope[QueueList], summary="List queues with their job counts")
async def list_queues(
    ctx: Ctx, principal: CurrentPrincipal, request_id: RequestId,
    project_id: uuid.UUID | None = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> Response:
    principal.require("queue:read")
    await ctx.queues.tail.catch_up()  # a queue created just before is listed
    entries = [] if project_id not in (None, principal.tenant.project_id) else ctx.queues.of_tenant(principal.tenant)
    entries.sort(key=lambda e: (e.created_at, str(e.id)))
    shown, pagination = Pagination.slice(entries, page, limit)
    result = QueueList(queues=await _with_stats(ctx, principal, shown), pagination=pagination)
    return success(result, request_id)


async def _one_with_stats(ctx: AppContext, principal: Principal, queue_id: uuid.UUID) -> QueueWithStats:
    principal.require("queue:read")
    entry = await ctx.queues.find(principal.tenant, queue_id)
    if entry is None:
        raise NotFound(f"queue {queue_id} not found")
    (view,) = await _with_stats(ctx, principal, [entry])
    return view


@router.get("/{queue_id}", response_model=Envelope[QueueWithStats], summary="Get a queue with its job counts")
async def get_queue(queue_id: uuid.UUID, ctx: Ctx, principal: CurrentPrincipal, request_id: RequestId) -> Response:
    return success(await _one_with_stats(ctx, principal, queue_id), request_id)


@router.get("/{queue_id}/stats", response_model=Envelope[QueueStats], summary="A queue's job counts by status")
async def get_queue_stats(queue_id: uuid.UUID, ctx: Ctx, principal: CurrentPrincipal, request_id: RequestId) -> Response:
    return success((await _one_with_stats(ctx, principal, queue_id)).stats, request_id)


@router.put("/{queue_id}", response_model=Envelope[QueueView], summary="Update a queue (partial; settings merge)",
            responses={409: {"description": "The new name is taken"}, 404: {"description": "No such queue"}})
async def update_queue(
    queue_id: uuid.UUID, body: QueueUpdateRequest, ctx: Ctx, principal: CurrentPrincipal, request_id: RequestId,
) -> Response:
    view = await writes.update_queue(ctx, principal, queue_id, body, request_id)
    return success(view, request_id, message="Queue updated successfully")


@router.post("/{queue_id}/pause", response_model=Envelope[QueueView], summary="Pause a queue: leases stop, jobs stay")
async def pause_queue(queue_id: uuid.UUID, ctx: Ctx, principal: CurrentPrincipal, request_id: RequestId) -> Response:
    view = await writes.set_queue_active(ctx, principal, queue_id, False, request_id)
    return success(view, request_id, message="Queue paused")


@router.post("/{queue_id}/resume", response_model=Envelope[QueueView], summary="Resume a paused queue")
async def resume_queue(queue_id: uuid.UUID, ctx: Ctx, principal: CurrentPrincipal, request_id: RequestId) -> Response:
    view = await writes.set_queue_active(ctx, principal, queue_id, True, request_id)
    return success(view, request_id, message="Queue resumed")


@router.delete("/{queue_id}", response_model=Envelope[None], summary="Delete a queue without live jobs",
               responses={409: {"description": "The queue has pending, scheduled or processing jobs, "
                                               "or is another queue's dead-letter queue"}})
async def delete_queue(queue_id: uuid.UUID, ctx: Ctx, principal: CurrentPrincipal, request_id: RequestId) -> Response:
    await writes.delete_queue(ctx, principal, queue_id, request_id)
    return success(None, request_id, message="Queue deleted successfully")
