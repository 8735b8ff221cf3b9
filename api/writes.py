"""The write paths: validate against what the log says, decide, append, answer.

These functions read the clock and mint ids (the edge); the rules themselves are in
``streams.deciders``. Nothing here writes anywhere but Kafka.
"""

from __future__ import annotations

import uuid

import orjson

from api.auth import Principal
from api.context import AppContext
from schemas.api.jobs import JobSubmitRequest, JobView
from schemas.api.queues import QueueCreateRequest, QueueView
from schemas.envelope import EventEnvelope, wrap
from schemas.job import JobPolicy, JobSubmitted, SubmitJob
from schemas.queue import QueueCreated
from streams.deciders import job as job_rules
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


async def submit_job(ctx: AppContext, principal: Principal, request: JobSubmitRequest, request_id: str) -> JobView:
    principal.require("job:write")
    payload_size = len(orjson.dumps(request.payload))
    if payload_size > ctx.settings.max_payload_bytes:
        raise PayloadTooLarge(f"payload is {payload_size} bytes; the limit is {ctx.settings.max_payload_bytes}",
                              details={"field": "payload", "limit": ctx.settings.max_payload_bytes})
    queue = await ctx.queues.find_by_name(principal.tenant, request.queue_name)
    if queue is None:
        raise NotFound(f"queue {request.queue_name!r} not found")
    command = SubmitJob(
        job_id=uuid.uuid4(), queue_id=queue.id, queue_name=queue.name, job_type=request.job_type,
        payload=request.payload, priority=request.priority, max_attempts=request.max_attempts,
        queue_max_retries=queue.settings.max_retries, policy=JobPolicy.from_queue(queue.settings),
        scheduled_for=request.scheduled_for, idempotency_key=request.idempotency_key,
    )
    decision = job_rules.decide(None, command, ctx.clock.now())
    if decision.refusal is not None:
        raise decision.refusal
    events = decision.events
    envelopes = [_envelope(ctx, principal, command.job_id, e, request_id) for e in events]
    await ctx.event_log.append(ctx.topics.job_events, envelopes)
    submitted = events[0]
    assert isinstance(submitted, JobSubmitted)
    return JobView(
        id=submitted.job_id, queue_id=submitted.queue_id, queue_name=submitted.queue_name,
        job_type=submitted.job_type, payload=submitted.payload, status=submitted.status,
        priority=submitted.priority, max_attempts=submitted.max_attempts, attempt_count=0,
        scheduled_for=submitted.scheduled_for, idempotency_key=submitted.idempotency_key,
        created_at=envelopes[0].occurred_at, updated_at=envelopes[0].occurred_at,
    )
