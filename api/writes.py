"""The write paths: validate against what the log says, then append (queues) or ask the
aggregate's owner (jobs), and answer.

These functions read the clock and mint ids (the edge); the rules themselves are in
``streams.deciders`` and are applied by the owners. Nothing here writes anywhere but Kafka.
"""

from __future__ import annotations

import uuid

import orjson

from api.auth import Principal
from api.context import AppContext
from api.views import job_view_from_snapshot
from schemas.api.jobs import JobSubmitRequest, JobView
from schemas.api.queues import QueueCreateRequest, QueueView
from schemas.commands import CommandEnvelope, CommandReply, JobSnapshot
from schemas.envelope import EventEnvelope, wrap
from schemas.job import CancelJob, JobCommand, JobPolicy, RetryJob, SubmitJob
from schemas.queue import QueueCreated
from taskforge.errors import Conflict, InvalidInput, NotFound, PayloadTooLarge


def _envelope(ctx: AppContext, principal: Principal, aggregate_id: uuid.UUID, event: object, request_id: str) -> EventEnvelope:
    return wrap(
        event,  # type: ignore[arg-type]
        tenant=principal.tenant,
        aggregate_id=aggregate_id,
        occurred_at=ctx.clock.now(),
        event_id=uuid.uuid4(),
        correlation_id=request_id,
        actor=principal.subject,
    )


async def create_queue(ctx: AppContext, principal: Principal, request: QueueCreateRequest, request_id: str) -> QueueView:
    principal.require("queue:write")
    tenant = principal.tenant
    if request.project_id is not None and request.project_id != tenant.project_id:
        raise NotFound(f"project {request.project_id} not found")
    dlq = request.settings.dead_letter_queue_id
    if dlq is not None and await ctx.queues.find(tenant, dlq) is None:
        raise InvalidInput(f"dead_letter_queue_id {dlq} is not a queue of this project",
                           details={"field": "settings.dead_letter_queue_id"})
    if await ctx.queues.find_by_name(tenant, request.name) is not None:
        raise Conflict(f"a queue named {request.name!r} already exists in this project")
    queue_id = uuid.uuid4()
    event = QueueCreated(queue_id=queue_id, name=request.name, description=request.description,
                         priority=request.priority, settings=request.settings)
    envelope = _envelope(ctx, principal, queue_id, event, request_id)
    await ctx.event_log.append(ctx.topics.queue_events, [envelope])
    return QueueView(id=queue_id, project_id=tenant.project_id, name=event.name, description=event.description,
                     priority=event.priority, settings=event.settings, is_active=event.is_active,
                     created_at=envelope.occurred_at, updated_at=envelope.occurred_at)


def _job_id_for(principal: Principal, idempotency_key: str | None) -> uuid.UUID:
    """A keyed submission's id is derived from (project, key): racing repeats reach the same owner."""
    if idempotency_key is None:
        return uuid.uuid4()
    return uuid.uuid5(principal.tenant.project_id, f"idempotency-key:{idempotency_key}")


def _verdict(reply: CommandReply) -> JobSnapshot:
    """The owner's reply as a snapshot, or its refusal raised as the matching typed error."""
    if reply.accepted and reply.job is not None:
        return reply.job
    message = reply.message or "refused"
    if reply.refusal == "not_found":
        raise NotFound(message, details=reply.details)
    if reply.refusal == "invalid":
        raise InvalidInput(message, details=reply.details)
    raise Conflict(message, details=reply.details)


async def _ask_owner(ctx: AppContext, principal: Principal, command: JobCommand, request_id: str) -> CommandReply:
    envelope = CommandEnvelope.of(command, tenant=principal.tenant, issued_at=ctx.clock.now(),
                                  correlation_id=request_id, actor=principal.subject)
    return await ctx.commands.send(envelope)


async def submit_job(
    ctx: AppContext, principal: Principal, request: JobSubmitRequest, request_id: str
) -> tuple[JobView, bool]:
    """Returns the job and whether this request created it (False: an idempotent repeat)."""
    principal.require("job:write")
    payload_size = len(orjson.dumps(request.payload))
    if payload_size > ctx.settings.max_payload_bytes:
        raise PayloadTooLarge(f"payload is {payload_size} bytes; the limit is {ctx.settings.max_payload_bytes}",
                              details={"field": "payload", "limit": ctx.settings.max_payload_bytes})
    queue = await ctx.queues.find_by_name(principal.tenant, request.queue_name)
    if queue is None:
        raise NotFound(f"queue {request.queue_name!r} not found")
    dlq_id = queue.settings.dead_letter_queue_id
    dlq = ctx.queues.get(principal.tenant, dlq_id) if dlq_id is not None else None
    command = SubmitJob(
        job_id=_job_id_for(principal, request.idempotency_key), queue_id=queue.id, queue_name=queue.name,
        job_type=request.job_type, payload=request.payload, priority=request.priority,
        max_attempts=request.max_attempts, queue_max_retries=queue.settings.max_retries,
        policy=JobPolicy.from_queue(queue.settings, dlq.name if dlq is not None else None),
        scheduled_for=request.scheduled_for,
        idempotency_key=request.idempotency_key,
    )
    reply = await _ask_owner(ctx, principal, command, request_id)
    return job_view_from_snapshot(_verdict(reply)), reply.created


async def cancel_job(ctx: AppContext, principal: Principal, job_id: uuid.UUID, request_id: str) -> JobView:
    principal.require("job:write")
    reply = await _ask_owner(ctx, principal, CancelJob(job_id=job_id), request_id)
    return job_view_from_snapshot(_verdict(reply))


async def retry_job(ctx: AppContext, principal: Principal, job_id: uuid.UUID, request_id: str) -> JobView:
    principal.require("job:write")
    reply = await _ask_owner(ctx, principal, RetryJob(job_id=job_id), request_id)
    return job_view_from_snapshot(_verdict(reply))
