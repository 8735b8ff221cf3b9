"""The job aggregate's rules: every transition a job can make, decided from its state alone.

``decide(state, command, now)`` returns a ``Decision``: the events to append, and the
refusal the caller should answer with (409, 404, ...), if any. A refusal may come with
events: a stale worker report is refused *and* recorded. ``evolve(state, event)``
applies one event, and refuses (``IllegalTransition``) any event the table below does
not allow from the state's status, so that a bug cannot slip an impossible history
through.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import singledispatch
from typing import Any, Literal

from pydantic import AwareDatetime

from schemas.envelope import DomainEvent
from schemas.ids import derived_id
from schemas.job import (
    MAX_ATTEMPTS, TERMINAL_STATUSES, ArchiveJob, CancelJob, CompleteJob, ExpireLease, ExtendLease, FailJob,
    FailureReason, JobArchived, JobAttemptFailed, JobBecameReady, JobCancelled, JobCommand, JobDeadLettered, JobFailed,
    JobLeased, JobLeaseExtended, JobPolicy, JobReportRejected, JobRetried, JobRetryScheduled, JobStatus, JobSubmitted,
    JobSucceeded, LeaseJob, PromoteJob, RejectionReason, ReportKind, RetryJob, SubmitJob,
)
from taskforge.errors import Conflict, InvalidInput, NotFound, TaskForgeError

MAX_SCHEDULE_AHEAD = timedelta(days=366)
_DEAD_LETTER_NAMESPACE = uuid.UUID("0b9f3c52-4f0e-4a53-8d8e-3b7f6f3c9d21")


# --- refusals --------------------------------------------------------------------------------


class JobAlreadyExists(Conflict):
    """A submission for a job id the owner already holds, with another idempotency key."""


class JobNotFound(NotFound):
    """A command for a job the owner does not hold."""


class JobNotLeasable(Conflict):
    """The dispatcher offered a job that is no longer pending."""


class JobNotCancellable(Conflict):
    """Only pending and scheduled jobs can be cancelled."""


class JobNotRetryable(Conflict):
    """Only failed and dead-lettered jobs can be retried by hand."""


class LeaseNotLive(Conflict):
    """A worker's report for a lease that expired or was superseded."""


class ScheduledTooFarAhead(InvalidInput):
    """``scheduled_for`` beyond ``MAX_SCHEDULE_AHEAD``: almost always a unit mistake."""


class IllegalTransition(Exception):
    """An event that the transition table does not allow from the current status: a bug."""


# --- state -------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Lease:
    lease_id: uuid.UUID
    worker_id: uuid.UUID
    attempt: int
    deadline: AwareDatetime
    leased_at: AwareDatetime | None = None  # None for leases granted before it was recorded


@dataclass(frozen=True, kw_only=True)
class JobState:
    """What the owner knows of one job: enough to decide its next transition.

    A plain dataclass, not a pydantic model: it is made only from validated events (``evolve``) and
    read back from the owner's own table (``streams.job_holding``), never from outside input, and
    it is built, copied and encoded for every command a job receives. As pydantic models, validated on
    every copy, they cost ~5% more of the owner's CPU per job (``benchmarks.owner_path``: 166-172
    against 158-159 us; docs/figures.md).
    """

    job_id: uuid.UUID
    queue_id: uuid.UUID
    queue_name: str = ""
    job_type: str
    payload: dict[str, Any]
    status: JobStatus
    priority: int
    max_attempts: int
    policy: JobPolicy = JobPolicy()
    attempt_count: int = 0
    round: int = 1
    scheduled_for: AwareDatetime | None = None
    idempotency_key: str | None = None
    dead_letter_of: uuid.UUID | None = None
    lease: Lease | None = None
    last_lease_id: uuid.UUID | None = None
    last_report: Literal["complete", "fail"] | None = None
    error_message: str | None = None
    output: Any = None


@dataclass(frozen=True)
class Decision:
    events: tuple[DomainEvent, ...] = ()
    refusal: TaskForgeError | None = None

    @property
    def accepted(self) -> bool:
        return self.refusal is None


def accept(*events: DomainEvent) -> Decision:
    return Decision(events=tuple(events))


def refuse(error: TaskForgeError, *events: DomainEvent) -> Decision:
    return Decision(events=tuple(events), refusal=error)


# --- pure policy -------------------------------------------------------------------------------


def initial_status(scheduled_for: datetime | None, now: datetime) -> JobStatus:
    """A job whose time has not come yet waits as ``scheduled``; any other starts ``pending``."""
    if scheduled_for is not None and scheduled_for > now:
        return JobStatus.SCHEDULED
    return JobStatus.PENDING


def default_max_attempts(queue_max_retries: int) -> int:
    """A job without its own ``max_attempts`` gets one attempt plus the queue's retries."""
    return min(MAX_ATTEMPTS, queue_max_retries + 1)


def backoff_delay(attempt: int, policy: JobPolicy) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based):
    ``retry_delay_seconds * backoff_multiplier ** (attempt - 1)``, capped at ``max_retry_delay_seconds``."""
    if attempt < 1:
        raise ValueError("attempts are numbered from 1")
    uncapped = policy.retry_delay_seconds * policy.backoff_multiplier ** (attempt - 1)
    return float(min(uncapped, policy.max_retry_delay_seconds))


def dead_letter_job_id(job_id: uuid.UUID, round_: int) -> uuid.UUID:
    """The id of a job's dead-letter copy: derived, so a redelivered decision makes no second copy."""
    return derived_id(_DEAD_LETTER_NAMESPACE, f"{job_id}:{round_}")


def dead_letter_submission(state: JobState, event: JobDeadLettered) -> SubmitJob:
    """The new job a dead-lettering creates in the dead-letter queue, linked to the original."""
    return SubmitJob(
        job_id=event.dead_letter_job_id, queue_id=event.dead_letter_queue_id,
        queue_name=state.policy.dead_letter_queue_name or "", job_type=state.job_type,
        payload=state.payload, priority=state.priority, max_attempts=1, queue_max_retries=0,
        dead_letter_of=state.job_id,
    )


# --- decide ------------------------------------------------------------------------------------


def decide(state: JobState | None, command: JobCommand, now: datetime) -> Decision:
    """Decide what a command does to a job."""
    if isinstance(command, SubmitJob):
        return _submit(state, command, now)
    if state is None:
        if isinstance(command, ArchiveJob):
            return accept()  # archived already: nothing left to archive
        return refuse(JobNotFound(f"job {command.job_id} not found"))
    return _decide(command, state, now)


def _submit(state: JobState | None, command: SubmitJob, now: datetime) -> Decision:
    if state is not None:
        if command.idempotency_key is not None and command.idempotency_key == state.idempotency_key:
            return accept()  # the same submission again: the original job stands
        if command.dead_letter_of is not None and command.dead_letter_of == state.dead_letter_of:
            return accept()  # a redelivered dead-lettering
        return refuse(JobAlreadyExists(f"job {command.job_id} already exists"))
    if command.scheduled_for is not None and command.scheduled_for - now > MAX_SCHEDULE_AHEAD:
        return refuse(ScheduledTooFarAhead(f"scheduled_for may be at most {MAX_SCHEDULE_AHEAD.days} days ahead",
                                           details={"field": "scheduled_for"}))
    return accept(JobSubmitted(
        job_id=command.job_id, queue_id=command.queue_id, queue_name=command.queue_name, job_type=command.job_type,
        payload=command.payload, priority=command.priority,
        max_attempts=command.max_attempts or default_max_attempts(command.queue_max_retries),
        scheduled_for=command.scheduled_for, idempotency_key=command.idempotency_key,
        status=initial_status(command.scheduled_for, now), policy=command.policy,
        dead_letter_of=command.dead_letter_of,
    ))


@singledispatch
def _decide(command: JobCommand, state: JobState, now: datetime) -> Decision:
    raise TypeError(f"no rule for {type(command).__name__}")


@_decide.register
def _lease(command: LeaseJob, state: JobState, now: datetime) -> Decision:
    if state.lease is not None and state.lease.lease_id == command.lease_id:
        return accept()  # this very lease was already granted
    if state.status is not JobStatus.PENDING:
        return refuse(JobNotLeasable(f"job {state.job_id} is {state.status.value}, not pending"))
    attempt = state.attempt_count + 1
    return accept(JobLeased(job_id=state.job_id, lease_id=command.lease_id, worker_id=command.worker_id,
                            attempt=attempt, deadline=now + timedelta(seconds=state.policy.timeout_seconds),
                            leased_at=now))


def _stale_report(state: JobState, lease_id: uuid.UUID, report: ReportKind, now: datetime) -> Decision | None:
    """None when the lease is live; otherwise the refusal, recorded, with the expiry it implies."""
    lease = state.lease
    if lease is not None and lease.lease_id == lease_id:
        if now <= lease.deadline:
            return None
        rejected = JobReportRejected(job_id=state.job_id, lease_id=lease_id, report=report, reason="expired")
        expiry = _failed_attempt(state, now, "timeout", "the lease expired before the worker reported")
        return refuse(LeaseNotLive(f"the lease of job {state.job_id} expired"), rejected, *expiry)
    reason: RejectionReason
    if lease_id == state.last_lease_id:
        reason = "expired"
    elif state.last_lease_id is not None or lease is not None:
        reason = "superseded"
    else:
        reason = "not_leased"
    rejected = JobReportRejected(job_id=state.job_id, lease_id=lease_id, report=report, reason=reason)
    return refuse(LeaseNotLive(f"lease {lease_id} of job {state.job_id} is not live ({reason})"), rejected)


def _repeated_report(state: JobState, lease_id: uuid.UUID, report: Literal["complete", "fail"]) -> bool:
    """The same report for the same lease again (a worker retrying its HTTP call): nothing more to do."""
    return state.lease is None and state.last_lease_id == lease_id and state.last_report == report


@_decide.register
def _complete(command: CompleteJob, state: JobState, now: datetime) -> Decision:
    if _repeated_report(state, command.lease_id, "complete"):
        return accept()
    stale = _stale_report(state, command.lease_id, "complete", now)
    if stale is not None:
        return stale
    assert state.lease is not None
    return accept(JobSucceeded(job_id=state.job_id, lease_id=command.lease_id, worker_id=state.lease.worker_id,
                               attempt=state.lease.attempt, output=command.output, duration_ms=command.duration_ms,
                               started_at=state.lease.leased_at))


@_decide.register
def _fail(command: FailJob, state: JobState, now: datetime) -> Decision:
    if _repeated_report(state, command.lease_id, "fail"):
        return accept()
    stale = _stale_report(state, command.lease_id, "fail", now)
    if stale is not None:
        return stale
    return accept(*_failed_attempt(state, now, "error", command.error_message, error_type=command.error_type,
                                   retryable=command.retryable, delay_override=command.retry_delay_seconds))


@_decide.register
def _extend(command: ExtendLease, state: JobState, now: datetime) -> Decision:
    stale = _stale_report(state, command.lease_id, "extend", now)
    if stale is not None:
        return stale
    return accept(JobLeaseExtended(job_id=state.job_id, lease_id=command.lease_id,
                                   deadline=now + timedelta(seconds=command.seconds)))


@_decide.register
def _expire(command: ExpireLease, state: JobState, now: datetime) -> Decision:
    lease = state.lease
    if lease is None or lease.lease_id != command.lease_id:
        return accept()  # a timer for a lease that already ended
    if command.reason == "timeout" and now <= lease.deadline:
        return accept()  # extended since the timer was set
    message = ("the lease expired before the worker reported" if command.reason == "timeout"
               else "the worker stopped heartbeating")
    return accept(*_failed_attempt(state, now, command.reason, message))


def _failed_attempt(
    state: JobState, now: datetime, reason: FailureReason, message: str, *, error_type: str | None = None,
    retryable: bool = True, delay_override: float | None = None,
) -> tuple[DomainEvent, ...]:
    lease = state.lease
    assert lease is not None
    failed = JobAttemptFailed(job_id=state.job_id, lease_id=lease.lease_id, worker_id=lease.worker_id,
                              attempt=lease.attempt, reason=reason, error_message=message, error_type=error_type,
                              retryable=retryable)
    if retryable and lease.attempt < state.max_attempts:
        delay = delay_override if delay_override is not None else backoff_delay(lease.attempt, state.policy)
        return failed, JobRetryScheduled(job_id=state.job_id, retry_at=now + timedelta(seconds=delay),
                                         delay_seconds=delay)
    dlq = state.policy.dead_letter_queue_id
    if dlq is not None and state.dead_letter_of is None:  # a dead-letter copy is never dead-lettered again
        return failed, JobDeadLettered(job_id=state.job_id, attempts=lease.attempt, dead_letter_queue_id=dlq,
                                       dead_letter_job_id=dead_letter_job_id(state.job_id, state.round))
    return failed, JobFailed(job_id=state.job_id, attempts=lease.attempt)


@_decide.register
def _promote(command: PromoteJob, state: JobState, now: datetime) -> Decision:
    if state.status is JobStatus.SCHEDULED and (state.scheduled_for is None or state.scheduled_for <= now):
        return accept(JobBecameReady(job_id=state.job_id))
    return accept()  # early or late timer: nothing to do


@_decide.register
def _cancel(command: CancelJob, state: JobState, now: datetime) -> Decision:
    if state.status in (JobStatus.PENDING, JobStatus.SCHEDULED):
        return accept(JobCancelled(job_id=state.job_id))
    if state.status is JobStatus.CANCELLED:
        return accept()  # cancelling twice is harmless
    return refuse(JobNotCancellable(f"job {state.job_id} is {state.status.value}; only pending or scheduled "
                                    "jobs can be cancelled"))


@_decide.register
def _retry(command: RetryJob, state: JobState, now: datetime) -> Decision:
    if state.status in (JobStatus.FAILED, JobStatus.DEAD_LETTERED):
        return accept(JobRetried(job_id=state.job_id, round=state.round + 1))
    return refuse(JobNotRetryable(f"job {state.job_id} is {state.status.value}; only failed or dead-lettered "
                                  "jobs can be retried"))


def archivable(state: JobState) -> bool:
    """Whether the job, as it stands, may be archived once its retention has passed: it has ended, and it was not
    submitted with an idempotency key. A keyed job's id is derived from the key, so a repeat of the key must keep
    finding it rather than create a job that the read model, which keeps the first, could not tell apart."""
    return state.status in TERMINAL_STATUSES and state.idempotency_key is None


@_decide.register
def _archive(command: ArchiveJob, state: JobState, now: datetime) -> Decision:
    """Made by the retention timer only once the job's retention has passed (``streams.retention``); the rule is
    what must still hold when the owner decides it."""
    if archivable(state) and state.round == command.round:
        return accept(JobArchived(job_id=state.job_id, status=state.status))
    return accept()  # retried since, or never to be archived: nothing to do


# --- evolve ------------------------------------------------------------------------------------

_ANY = frozenset(JobStatus)
#: event type -> (statuses it may happen in, status after it; None: unchanged or computed)
TRANSITIONS: dict[str, tuple[frozenset[JobStatus], JobStatus | None]] = {
    "JobBecameReady": (frozenset({JobStatus.SCHEDULED}), JobStatus.PENDING),
    "JobLeased": (frozenset({JobStatus.PENDING}), JobStatus.PROCESSING),
    "JobLeaseExtended": (frozenset({JobStatus.PROCESSING}), JobStatus.PROCESSING),
    "JobSucceeded": (frozenset({JobStatus.PROCESSING}), JobStatus.SUCCEEDED),
    "JobAttemptFailed": (frozenset({JobStatus.PROCESSING}), JobStatus.PROCESSING),
    "JobRetryScheduled": (frozenset({JobStatus.PROCESSING}), JobStatus.SCHEDULED),
    "JobFailed": (frozenset({JobStatus.PROCESSING}), JobStatus.FAILED),
    "JobDeadLettered": (frozenset({JobStatus.PROCESSING}), JobStatus.DEAD_LETTERED),
    "JobCancelled": (frozenset({JobStatus.PENDING, JobStatus.SCHEDULED}), JobStatus.CANCELLED),
    "JobRetried": (frozenset({JobStatus.FAILED, JobStatus.DEAD_LETTERED}), JobStatus.PENDING),
    "JobReportRejected": (_ANY, None),
    "JobArchived": (TERMINAL_STATUSES, None),  # the owner holds no state after it: evolve gives None
}


def evolve(state: JobState | None, event: DomainEvent) -> JobState | None:
    """Apply one event. Events of other aggregates leave the state as it is."""
    if isinstance(event, JobSubmitted):
        if state is not None:
            raise IllegalTransition(f"job {event.job_id} submitted twice")
        return _submitted(event)
    rule = TRANSITIONS.get(event.event_type)
    if rule is None:
        return state
    if state is None:
        raise IllegalTransition(f"{event.event_type} for a job that was never submitted")
    allowed, after = rule
    if state.status not in allowed:
        raise IllegalTransition(f"{event.event_type} is not allowed when a job is {state.status.value}")
    if isinstance(event, JobArchived):
        return None
    changes = _changes(event, state)
    if after is not None:
        changes["status"] = after
    return replace(state, **changes) if changes else state


def _submitted(event: JobSubmitted) -> JobState:
    return JobState(
        job_id=event.job_id, queue_id=event.queue_id, queue_name=event.queue_name, job_type=event.job_type,
        payload=event.payload, status=event.status, priority=event.priority, max_attempts=event.max_attempts,
        policy=event.policy, scheduled_for=event.scheduled_for, idempotency_key=event.idempotency_key,
        dead_letter_of=event.dead_letter_of,
    )


@singledispatch
def _changes(event: DomainEvent, state: JobState) -> dict[str, Any]:
    """The fields an event sets (its status aside, which the table gives): one copy of the state per event."""
    return {}


@_changes.register
def _(event: JobLeased, state: JobState) -> dict[str, Any]:
    lease = Lease(lease_id=event.lease_id, worker_id=event.worker_id, attempt=event.attempt, deadline=event.deadline,
                  leased_at=event.leased_at)
    return {"lease": lease, "last_lease_id": event.lease_id, "last_report": None, "attempt_count": event.attempt}


@_changes.register
def _(event: JobLeaseExtended, state: JobState) -> dict[str, Any]:
    assert state.lease is not None
    return {"lease": replace(state.lease, deadline=event.deadline)}


@_changes.register
def _(event: JobSucceeded, state: JobState) -> dict[str, Any]:
    return {"lease": None, "last_report": "complete", "output": event.output, "error_message": None}


@_changes.register
def _(event: JobAttemptFailed, state: JobState) -> dict[str, Any]:
    # only the worker's own fail report counts as one; a timeout or a lost worker leaves a later report stale
    report = "fail" if event.reason == "error" else None
    return {"lease": None, "last_report": report, "error_message": event.error_message}


@_changes.register
def _(event: JobRetryScheduled, state: JobState) -> dict[str, Any]:
    return {"scheduled_for": event.retry_at}


@_changes.register
def _(event: JobRetried, state: JobState) -> dict[str, Any]:
    return {"round": event.round, "attempt_count": 0, "scheduled_for": None}


def replay(events: list[DomainEvent]) -> JobState | None:
    """Fold a job's whole history."""
    state: JobState | None = None
    for event in events:
        state = evolve(state, event)
    return state

