"""Worker registration, heartbeats, drain, and the lease call.

A worker's own state (registration, heartbeat, drain, deregistration) is written by the
API to the compacted worker topic. Leases are decided by the queue's dispatcher and the
jobs' owners: the API only asks and waits.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta

import orjson
from aiokafka import TopicPartition

from api.auth import Principal
from api.context import AppContext
from schemas.api.workers import (
    HeartbeatView, LeasedJob, LeaseRequest, QueueRef, WorkerRegisterRequest, WorkerView,
)
from schemas.commands import CommandReply
from schemas.dispatch import LeaseRequestDone, LeaseRequested, lease_command_id
from schemas.envelope import Tenant, wrap
from schemas.worker import WorkerChange, WorkerState, WorkerStateChanged
from streams.deciders.worker import shown_status
from taskforge.errors import Conflict, InvalidInput, NotFound, PayloadTooLarge

MAX_METADATA_BYTES = 16 * 1024


def worker_view(ctx: AppContext, tenant: Tenant, worker: WorkerState, now: datetime, active_jobs: int) -> WorkerView:
    """The worker as the API shows it; ``active_jobs`` (jobs it holds a live lease on) comes from the read model."""
    next_expected = worker.last_heartbeat_at + timedelta(seconds=worker.heartbeat_interval_seconds)
    queues = []
    for queue_id in worker.queue_ids:
        queue = ctx.queues.get(tenant, queue_id)
        queues.append(QueueRef(id=queue_id, name=queue.name if queue is not None else ""))
    return WorkerView(
        id=worker.worker_id, name=worker.name, worker_type=worker.worker_type, queues=queues,
        job_types=worker.job_types, max_concurrent_jobs=worker.max_concurrent_jobs,
        heartbeat_interval_seconds=worker.heartbeat_interval_seconds, metadata=worker.metadata,
        status=shown_status(worker, now),  # type: ignore[arg-type]
        registered_at=worker.registered_at, last_heartbeat_at=worker.last_heartbeat_at,
        next_expected_heartbeat=next_expected, uptime_seconds=(now - worker.registered_at).total_seconds(),
        active_jobs=active_jobs,
    )


async def worker_views(ctx: AppContext, tenant: Tenant, found: list[WorkerState]) -> list[WorkerView]:
    """Views of several workers of one tenant, with their active jobs counted in one query."""
    active = await ctx.jobs.active_by_worker(tenant, [w.worker_id for w in found])
    now = ctx.clock.now()
    return [worker_view(ctx, tenant, w, now, active.get(w.worker_id, 0)) for w in found]


async def _record(ctx: AppContext, principal: Principal, change: WorkerChange, worker: WorkerState,
                  request_id: str) -> None:
    envelope = wrap(WorkerStateChanged(change=change, worker=worker), tenant=principal.tenant,
                    aggregate_id=worker.worker_id, occurred_at=ctx.clock.now(), event_id=uuid.uuid4(),
                    correlation_id=request_id, actor=principal.subject)
    (appended,) = await ctx.event_log.append(ctx.topics.worker_events, [envelope])
    # read-your-writes on this replica: the next call (a lease after a drain) sees this state
    await ctx.workers.tail.wait_for({TopicPartition(appended.topic, appended.partition): appended.offset + 1},
                                    ctx.settings.read_barrier_timeout_seconds)


async def register(ctx: AppContext, principal: Principal, request: WorkerRegisterRequest, request_id: str) -> WorkerView:
    principal.require("worker:write")
    if len(orjson.dumps(request.metadata)) > MAX_METADATA_BYTES:
        raise PayloadTooLarge(f"metadata is over {MAX_METADATA_BYTES} bytes", details={"field": "metadata"})
    queue_ids = []
    for name in dict.fromkeys(request.queues):
        queue = await ctx.queues.find_by_name(principal.tenant, name)
        if queue is None:
            raise NotFound(f"queue {name!r} not found")
        queue_ids.append(queue.id)
    now = ctx.clock.now()
    worker = WorkerState(
        worker_id=uuid.uuid4(), name=request.name, worker_type=request.worker_type, queue_ids=queue_ids,
        job_types=list(dict.fromkeys(request.job_types)), max_concurrent_jobs=request.max_concurrent_jobs,
        heartbeat_interval_seconds=request.heartbeat_interval_seconds, metadata=request.metadata, status="online",
        registered_at=now, last_heartbeat_at=now,
    )
    await _record(ctx, principal, "registered", worker, request_id)
    return worker_view(ctx, principal.tenant, worker, now, active_jobs=0)


async def _known(ctx: AppContext, principal: Principal, worker_id: uuid.UUID) -> WorkerState:
    worker = await ctx.workers.find(principal.tenant, worker_id)
    if worker is None:
        raise NotFound(f"worker {worker_id} not found")
    if worker.status == "deregistered":
        raise Conflict(f"worker {worker_id} is deregistered; register again")
    return worker


async def heartbeat(ctx: AppContext, principal: Principal, worker_id: uuid.UUID, request_id: str) -> HeartbeatView:
    principal.require("worker:write")
    worker = await _known(ctx, principal, worker_id)
    now = ctx.clock.now()
    worker = worker.model_copy(update={"last_heartbeat_at": now})
    await _record(ctx, principal, "heartbeat", worker, request_id)
    return HeartbeatView(worker_id=worker_id, status=worker.status,
                         next_expected_heartbeat=now + timedelta(seconds=worker.heartbeat_interval_seconds))


async def drain(ctx: AppContext, principal: Principal, worker_id: uuid.UUID, request_id: str) -> WorkerView:
    principal.require("worker:write")
    worker = (await _known(ctx, principal, worker_id)).model_copy(update={"status": "draining"})
    await _record(ctx, principal, "draining", worker, request_id)
    return (await worker_views(ctx, principal.tenant, [worker]))[0]


async def deregister(ctx: AppContext, principal: Principal, worker_id: uuid.UUID, request_id: str) -> WorkerView:
    principal.require("worker:write")
    worker = (await _known(ctx, principal, worker_id)).model_copy(update={"status": "deregistered"})
    await _record(ctx, principal, "deregistered", worker, request_id)
    return (await worker_views(ctx, principal.tenant, [worker]))[0]


# --- leasing ---------------------------------------------------------------------------------


async def lease(ctx: AppContext, principal: Principal, worker_id: uuid.UUID, request: LeaseRequest) -> list[LeasedJob]:
    """Up to ``max_jobs`` jobs from the worker's queues. With one queue the call long-polls
    (``wait_seconds``); with several it takes what is ready now, queue by queue (the SDK runs
    one long-poll per queue)."""
    principal.require("job:write")
    worker = await _known(ctx, principal, worker_id)
    if worker.status == "draining":
        return []
    queue_ids = list(worker.queue_ids)
    if request.queue is not None:
        queue = await ctx.queues.find_by_name(principal.tenant, request.queue)
        if queue is None or queue.id not in queue_ids:
            raise InvalidInput(f"{request.queue!r} is not one of this worker's queues", details={"field": "queue"})
        queue_ids = [queue.id]
    wait = request.wait_seconds if len(queue_ids) == 1 else 0.0
    granted: list[LeasedJob] = []
    for queue_id in queue_ids:
        remaining = request.max_jobs - len(granted)
        if remaining <= 0:
            break
        granted.extend(await _lease_from(ctx, principal, worker, queue_id, remaining, wait))
    return granted


async def _lease_from(ctx: AppContext, principal: Principal, worker: WorkerState, queue_id: uuid.UUID,
                      max_jobs: int, wait: float) -> list[LeasedJob]:
    now = ctx.clock.now()
    request_id = uuid.uuid4()
    offer_ids = [lease_command_id(request_id, i) for i in range(max_jobs)]
    futures = ctx.commands.expect([request_id, *offer_ids])
    try:
        await ctx.event_log.append(ctx.topics.dispatch, [LeaseRequested(
            queue_id=queue_id, request_id=request_id, organization_id=principal.tenant.organization_id,
            project_id=principal.tenant.project_id, worker_id=worker.worker_id, job_types=worker.job_types,
            max_jobs=max_jobs, wait_until=now + timedelta(seconds=wait), issued_at=now,
        )])
        timeout = ctx.settings.command_timeout_seconds
        try:
            async with asyncio.timeout(wait + timeout):
                done = await futures[request_id]
        except TimeoutError:
            return []  # the dispatcher did not answer (a rebalance): nothing was offered to this call
        assert isinstance(done, LeaseRequestDone)
        offered = [futures[i] for i in offer_ids[:done.offered]]
        if offered:
            await asyncio.wait(offered, timeout=timeout)
        jobs = []
        for future in offered:
            reply = future.result() if future.done() else None
            if isinstance(reply, CommandReply) and reply.accepted and reply.job is not None:
                job = reply.job
                if job.lease_id is not None and job.lease_deadline is not None and job.worker_id == worker.worker_id:
                    jobs.append(LeasedJob(
                        id=job.id, queue_id=job.queue_id, queue_name=job.queue_name, job_type=job.job_type,
                        payload=job.payload, priority=job.priority, attempt=job.attempt_count,
                        max_attempts=job.max_attempts, lease_id=job.lease_id, lease_deadline=job.lease_deadline,
                    ))
        return jobs
    finally:
        ctx.commands.forget([request_id, *offer_ids])
