"""The write paths: validate against what the log says, then append (queues) or ask the
aggregate's owner (jobs), and answer.

These functions read the clock and mint ids (the edge); the rules themselves are in
``streams.deciders`` and are applied by the owners. Nothing here writes anywhere but Kafka.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import ValidationError

from api.auth import Principal
from api.context import AppContext
from api.errors import status_and_code
from api.identity import visible_project
from api.views import job_view_from_snapshot
from projections.queue_directory import QueueEntry
from schemas.api.common import ErrorBody
from schemas.api.jobs import JobBatchItem, JobBatchResult, JobSubmitRequest, JobView
from schemas.api.queues import QueueCreateRequest, QueueUpdateRequest, QueueView
from schemas.commands import CommandEnvelope, CommandReply, JobSnapshot
from schemas.api.workers import (
    CompleteItem, CompleteRequest, ExtendRequest, FailItem, FailRequest, ReportBatchResult, ReportResult,
)
from schemas.job import CancelJob, CompleteJob, ExtendLease, FailJob, JobCommand, JobPolicy, RetryJob, SubmitJob
from schemas.dispatch import LiveJobsQuery
from schemas.ids import derived_id
from schemas.queue import (
    CreateQueue, DeleteQueue, PauseQueue, QueueCommand, QueueRecord, ResumeQueue, UpdateQueue,
)
from taskforge.errors import (
    Conflict, DecisionFailed, InvalidInput, NotFound, PayloadTooLarge, TaskForgeError, invalid_input,
)


def queue_view(record: QueueRecord) -> QueueView:
    return QueueView(id=record.queue_id, project_id=record.project_id, name=record.name,
                     description=record.description, priority=record.priority, settings=record.settings,
                     is_active=record.is_active, created_at=record.created_at, updated_at=record.updated_at)


async def _ask_catalog(ctx: AppContext, principal: Principal, command: QueueCommand, request_id: str) -> CommandReply:
    """The project's queue catalogue decides (names unique, settings valid, no live jobs on delete)."""
    principal.require("queue:write")
    reply = await ctx.commands.send(CommandEnvelope.of(command, tenant=principal.tenant, issued_at=ctx.clock.now(),
                                                       correlation_id=request_id, actor=principal.subject))
    if not reply.accepted:
        raise _refusal(reply)
    await ctx.queues.tail.catch_up()  # this API's next read of the queue shows the change
    return reply


def _queue_of(reply: CommandReply) -> QueueView:
    if reply.queue is None:
        raise TypeError("an accepted queue command must show the queue")
    return queue_view(reply.queue)


async def create_queue(ctx: AppContext, principal: Principal, request: QueueCreateRequest, request_id: str) -> QueueView:
    if request.project_id is not None and request.project_id != principal.project_id:
        visible_project(ctx, principal, request.project_id)  # 404 unless the caller may act on it
        principal = principal.for_project(request.project_id)
    tenant = principal.tenant
    return _queue_of(await _ask_catalog(ctx, principal, CreateQueue(
        project_id=tenant.project_id, queue_id=uuid.uuid4(), name=request.name, description=request.description,
        priority=request.priority, settings=request.settings), request_id))


async def update_queue(
    ctx: AppContext, principal: Principal, queue_id: uuid.UUID, request: QueueUpdateRequest, request_id: str
) -> QueueView:
    fields = request.model_fields_set
    command = UpdateQueue(
        project_id=principal.tenant.project_id, queue_id=queue_id, name=request.name,
        description=request.description, clear_description="description" in fields and request.description is None,
        priority=request.priority, settings=request.settings.changes(), is_active=request.is_active,
    )
    return _queue_of(await _ask_catalog(ctx, principal, command, request_id))


async def set_queue_active(
    ctx: AppContext, principal: Principal, queue_id: uuid.UUID, active: bool, request_id: str
) -> QueueView:
    command_type = ResumeQueue if active else PauseQueue
    return _queue_of(await _ask_catalog(ctx, principal, command_type(project_id=principal.tenant.project_id,
                                                                     queue_id=queue_id), request_id))


async def delete_queue(ctx: AppContext, principal: Principal, queue_id: uuid.UUID, request_id: str) -> None:
    """Ask the queue's dispatcher how many jobs are live, then let the catalogue decide.

    A job submitted between the two steps is cancelled by the dispatcher once the queue is
    deleted (it never waits forever in a queue that is gone).
    """
    principal.require("queue:write")
    if await ctx.queues.find(principal.tenant, queue_id) is None:
        raise NotFound(f"queue {queue_id} not found")
    live = await ctx.commands.count_live_jobs(LiveJobsQuery(queue_id=queue_id, request_id=uuid.uuid4()))
    command = DeleteQueue(project_id=principal.tenant.project_id, queue_id=queue_id, live_jobs=live.live)
    try:
        await _ask_catalog(ctx, principal, command, request_id)
    except Conflict as exc:
        if live.live:
            exc.details.update(pending=live.pending, scheduled=live.scheduled, processing=live.processing)
        raise


def _job_id_for(principal: Principal, idempotency_key: str | None) -> uuid.UUID:
    """A keyed submission's id is derived from (project, key): racing repeats reach the same owner."""
    if idempotency_key is None:
        return uuid.uuid4()
    return derived_id(principal.project_id, f"idempotency-key:{idempotency_key}")


def _refusal(reply: CommandReply) -> TaskForgeError:
    message = reply.message or "refused"
    if reply.refusal == "not_found":
        return NotFound(message, details=reply.details)
    if reply.refusal == "invalid":
        return InvalidInput(message, details=reply.details)
    if reply.refusal == "internal":
        return DecisionFailed(message, details=reply.details)
    return Conflict(message, details=reply.details)


def _verdict(reply: CommandReply) -> JobSnapshot:
    """The owner's reply as a snapshot, or its refusal raised as the matching typed error."""
    if reply.accepted and reply.job is not None:
        return reply.job
    raise _refusal(reply)


async def _ask_owner(ctx: AppContext, principal: Principal, command: JobCommand, request_id: str) -> CommandReply:
    envelope = CommandEnvelope.of(command, tenant=principal.tenant, issued_at=ctx.clock.now(),
                                  correlation_id=request_id, actor=principal.subject)
    return await ctx.commands.send(envelope)


@dataclass(frozen=True)
class _TargetQueue:
    """A queue that submissions name, as each of them gets it: its entry and the policy taken from its settings."""

    entry: QueueEntry
    policy: JobPolicy


async def _target_queue(ctx: AppContext, principal: Principal, name: str) -> _TargetQueue | None:
    queue = await ctx.queues.find_by_name(principal.tenant, name)
    if queue is None:
        return None
    dlq_id = queue.settings.dead_letter_queue_id
    dlq = ctx.queues.get(principal.tenant, dlq_id) if dlq_id is not None else None
    return _TargetQueue(queue, JobPolicy.from_queue(queue.settings, dlq.name if dlq is not None else None))


async def _submit_command(ctx: AppContext, principal: Principal, request: JobSubmitRequest,
                          known_queues: dict[str, _TargetQueue | None]) -> SubmitJob:
    """Check one submission against the limits and the queue directory, and build its command.

    ``known_queues``: the queues already looked up, by name, filled here (a batch is mostly one queue, so its
    lookups and its policy are made once).
    """
    payload_size = len(orjson.dumps(request.payload))
    if payload_size > ctx.settings.max_payload_bytes:
        raise PayloadTooLarge(f"payload is {payload_size} bytes; the limit is {ctx.settings.max_payload_bytes}",
                              details={"field": "payload", "limit": ctx.settings.max_payload_bytes})
    if request.queue_name not in known_queues:
        known_queues[request.queue_name] = await _target_queue(ctx, principal, request.queue_name)
    target = known_queues[request.queue_name]
    if target is None:
        raise NotFound(f"queue {request.queue_name!r} not found")
    queue = target.entry
    return SubmitJob(
        job_id=_job_id_for(principal, request.idempotency_key), queue_id=queue.id, queue_name=queue.name,
        job_type=request.job_type, payload=request.payload, priority=request.priority,
        max_attempts=request.max_attempts, queue_max_retries=queue.settings.max_retries,
        policy=target.policy,
        scheduled_for=request.scheduled_for,
        idempotency_key=request.idempotency_key,
    )


async def submit_job(
    ctx: AppContext, principal: Principal, request: JobSubmitRequest, request_id: str
) -> tuple[JobView, bool]:
    """Returns the job and whether this request created it (False: an idempotent repeat)."""
    principal.require("job:write")
    command = await _submit_command(ctx, principal, request, {})
    reply = await _ask_owner(ctx, principal, command, request_id)
    return job_view_from_snapshot(_verdict(reply)), reply.created


def _item_error(index: int, exc: TaskForgeError) -> JobBatchItem:
    status, code = status_and_code(exc)
    return JobBatchItem(index=index, status=status, error=ErrorBody(code=code, message=exc.message, details=exc.details))


async def submit_jobs(
    ctx: AppContext, principal: Principal, items: list[Any], request_id: str
) -> JobBatchResult:
    """Many submissions in one request: each validated and answered on its own, all sent in one append."""
    principal.require("job:write")
    if len(items) > ctx.settings.max_batch_jobs:
        raise InvalidInput(f"a batch holds at most {ctx.settings.max_batch_jobs} jobs, not {len(items)}",
                           details={"field": "jobs", "limit": ctx.settings.max_batch_jobs})
    results: dict[int, JobBatchItem] = {}
    pending: list[tuple[int, CommandEnvelope]] = []
    known_queues: dict[str, _TargetQueue | None] = {}
    now = ctx.clock.now()
    tenant, actor = principal.tenant, principal.subject
    for index, item in enumerate(items):
        try:
            request = JobSubmitRequest.model_validate(item)
        except ValidationError as exc:
            results[index] = _item_error(index, invalid_input("job", exc.errors()))
            continue
        try:
            command = await _submit_command(ctx, principal, request, known_queues)
        except TaskForgeError as exc:
            results[index] = _item_error(index, exc)
            continue
        pending.append((index, CommandEnvelope.of(command, tenant=tenant, issued_at=now, correlation_id=request_id,
                                                  actor=actor)))
    if pending:
        replies = await ctx.commands.send_many([envelope for _, envelope in pending])
        for (index, _), reply in zip(pending, replies, strict=True):
            if isinstance(reply, TaskForgeError):
                results[index] = _item_error(index, reply)
            elif reply.accepted and reply.job is not None:
                results[index] = JobBatchItem(index=index, status=201 if reply.created else 200,
                                              job=job_view_from_snapshot(reply.job))
            else:
                results[index] = _item_error(index, _refusal(reply))
    ordered = [results[i] for i in range(len(items))]
    return JobBatchResult(
        results=ordered,
        submitted=sum(1 for r in ordered if r.status == 201),
        duplicates=sum(1 for r in ordered if r.status == 200),
        failed=sum(1 for r in ordered if r.status >= 400),
    )


def _archived_or(error: TaskForgeError, job_id: uuid.UUID, row: dict[str, Any] | None) -> TaskForgeError:
    """An owner that holds no such job may have archived it (``streams.retention``): if the read model has the job
    (``row``), the answer is 409 with how it ended, not 404 for a job that GET still shows. The owner decided; the
    read model only words the refusal."""
    if not isinstance(error, NotFound) or row is None:
        return error
    status = row["status"]
    return Conflict(f"job {job_id} ended {status} and was archived after its retention; it can no longer change",
                    details={"status": status, "archived": True})


async def _decided_job(ctx: AppContext, principal: Principal, command: JobCommand, request_id: str) -> JobView:
    reply = await _ask_owner(ctx, principal, command, request_id)
    try:
        return job_view_from_snapshot(_verdict(reply))
    except NotFound as refusal:
        raise _archived_or(refusal, command.job_id, await ctx.jobs.get(principal.tenant, command.job_id)) from None


async def cancel_job(ctx: AppContext, principal: Principal, job_id: uuid.UUID, request_id: str) -> JobView:
    principal.require("job:write")
    return await _decided_job(ctx, principal, CancelJob(job_id=job_id), request_id)


async def retry_job(ctx: AppContext, principal: Principal, job_id: uuid.UUID, request_id: str) -> JobView:
    principal.require("job:write")
    return await _decided_job(ctx, principal, RetryJob(job_id=job_id), request_id)


def _report_command(
    ctx: AppContext, job_id: uuid.UUID, request: CompleteRequest | FailRequest | ExtendRequest
) -> JobCommand:
    command: JobCommand
    if isinstance(request, CompleteRequest):
        output_size = len(orjson.dumps(request.output))
        if output_size > ctx.settings.max_payload_bytes:
            raise PayloadTooLarge(f"output is {output_size} bytes; the limit is {ctx.settings.max_payload_bytes}",
                                  details={"field": "output", "limit": ctx.settings.max_payload_bytes})
        command = CompleteJob(job_id=job_id, lease_id=request.lease_id, output=request.output,
                              duration_ms=request.duration_ms)
    elif isinstance(request, FailRequest):
        command = FailJob(job_id=job_id, lease_id=request.lease_id, error_message=request.error_message,
                          error_type=request.error_type, retryable=request.retryable,
                          retry_delay_seconds=request.retry_delay_seconds)
    else:
        command = ExtendLease(job_id=job_id, lease_id=request.lease_id, seconds=request.seconds)
    return command


async def report(
    ctx: AppContext, principal: Principal, job_id: uuid.UUID, request: CompleteRequest | FailRequest | ExtendRequest,
    request_id: str,
) -> JobView:
    """A worker's complete, fail or extend, decided by the job's owner against the live lease (409 when stale)."""
    principal.require("job:write")
    return await _decided_job(ctx, principal, _report_command(ctx, job_id, request), request_id)


async def report_many(
    ctx: AppContext, principal: Principal, items: list[CompleteItem] | list[FailItem], request_id: str
) -> ReportBatchResult:
    """Many workers' reports in one request, all sent in one append; each answered on its own."""
    principal.require("job:write")
    results: dict[int, ReportResult] = {}
    pending: list[tuple[int, CommandEnvelope]] = []
    now = ctx.clock.now()
    tenant, actor = principal.tenant, principal.subject
    for index, item in enumerate(items):
        try:
            command = _report_command(ctx, item.job_id, item)
        except TaskForgeError as exc:
            status, code = status_and_code(exc)
            results[index] = ReportResult(job_id=item.job_id, status=status,
                                          error=ErrorBody(code=code, message=exc.message, details=exc.details))
            continue
        # the answer is the verdict alone
        pending.append((index, CommandEnvelope.of(command, tenant=tenant, issued_at=now, correlation_id=request_id,
                                                  actor=actor, reply_with_job=False)))
    replies = await ctx.commands.send_many([envelope for _, envelope in pending]) if pending else []
    refusals: dict[int, TaskForgeError] = {
        index: reply if isinstance(reply, TaskForgeError) else _refusal(reply)
        for (index, _), reply in zip(pending, replies, strict=True)
        if isinstance(reply, TaskForgeError) or not reply.accepted
    }
    # jobs their owners do not hold: archived ones are in the read model (one lookup for the batch, however long)
    unheld = [items[index].job_id for index, error in refusals.items() if isinstance(error, NotFound)]
    rows = await ctx.jobs.get_many(principal.tenant, unheld)
    for index, _ in pending:
        job_id = items[index].job_id
        error = _archived_or(refusals[index], job_id, rows.get(str(job_id))) if index in refusals else None
        if error is None:
            results[index] = ReportResult(job_id=job_id, status=200)
        else:
            status, code = status_and_code(error)
            results[index] = ReportResult(job_id=job_id, status=status,
                                          error=ErrorBody(code=code, message=error.message, details=error.details))
    ordered = [results[i] for i in range(len(items))]
    accepted = sum(1 for r in ordered if r.status == 200)
    return ReportBatchResult(results=ordered, accepted=accepted, refused=len(ordered) - accepted)
