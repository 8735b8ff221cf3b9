"""Job states, commands and events.

A job carries a snapshot of its queue's retry and timeout policy, taken at submission,
so that its owner decides every transition from the job's own state (as BullMQ and
Sidekiq do with per-job options): a later change of the queue's settings applies to
jobs submitted after it.
"""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from schemas.envelope import DomainEvent, register_event
from schemas.queue import QueueSettings

MAX_PRIORITY = 9
MAX_ATTEMPTS = 10
MAX_ERROR_CHARS = 8_000


class JobStatus(StrEnum):
    """Where a job is in its life, and who moves it in and out of each state.

    - ``scheduled``: in by submission with ``scheduled_for`` in the future, or by a failed
      attempt waiting out its backoff; out by the owner's timer when that time comes
      (``JobBecameReady``, to ``pending``) or by cancel.
    - ``pending``: in by submission, by the timer, or by a manual retry; out by a lease
      (to ``processing``) or by cancel.
    - ``processing``: in by a lease; out by complete (``succeeded``), or by a failed
      attempt (a worker's fail, the lease deadline passing, the worker going offline):
      to ``scheduled`` for a retry, or after the last attempt to ``dead_lettered`` when
      the queue has a dead-letter queue, else ``failed``.
    - ``succeeded``, ``cancelled``: terminal.
    - ``failed``, ``dead_lettered``: terminal, except that a manual retry starts a new
      round of attempts (to ``pending``).

    A terminal job without an idempotency key is archived once its retention has passed
    (``JobArchived``, ``streams.retention``): its owner no longer holds it, so a command for
    it is not found there (the API answers 409, archived); the read model keeps it as it ended.
    """

    PENDING = "pending"
    SCHEDULED = "scheduled"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    DEAD_LETTERED = "dead_lettered"


TERMINAL_STATUSES = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.DEAD_LETTERED})


class JobPolicy(BaseModel):
    """The queue's timeout and retry settings as they were when the job was submitted."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    timeout_seconds: int = Field(default=300, ge=1, le=86_400)
    retry_delay_seconds: int = Field(default=30, ge=0, le=86_400)
    max_retry_delay_seconds: int = Field(default=300, ge=0, le=7 * 86_400)
    backoff_multiplier: float = Field(default=2.0, ge=1.0, le=10.0)
    dead_letter_queue_id: uuid.UUID | None = None
    dead_letter_queue_name: str | None = None

    @classmethod
    def from_queue(cls, settings: QueueSettings, dead_letter_queue_name: str | None = None) -> JobPolicy:
        return cls(timeout_seconds=settings.timeout_seconds, retry_delay_seconds=settings.retry_delay_seconds,
                   max_retry_delay_seconds=settings.max_retry_delay_seconds,
                   backoff_multiplier=settings.backoff_multiplier, dead_letter_queue_id=settings.dead_letter_queue_id,
                   dead_letter_queue_name=dead_letter_queue_name)


FailureReason = Literal["error", "timeout", "worker_lost"]
ReportKind = Literal["complete", "fail", "extend"]
RejectionReason = Literal["expired", "superseded", "not_leased"]


# --- commands: what someone asks the job's owner to do -----------------------------------


class JobCommand(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    job_id: uuid.UUID


class SubmitJob(JobCommand):
    """A validated request to create a job in a known queue."""

    queue_id: uuid.UUID
    queue_name: str
    job_type: str
    payload: dict[str, Any]
    priority: int = Field(ge=0, le=MAX_PRIORITY)
    max_attempts: int | None = Field(default=None, ge=1, le=MAX_ATTEMPTS, description="None: the queue's default.")
    queue_max_retries: int = Field(ge=0, le=MAX_ATTEMPTS - 1)
    policy: JobPolicy = Field(default_factory=JobPolicy)
    scheduled_for: AwareDatetime | None = None
    idempotency_key: str | None = None
    dead_letter_of: uuid.UUID | None = None


class LeaseJob(JobCommand):
    """The dispatcher offers the job to a worker; the owner grants it if the job is still ready."""

    lease_id: uuid.UUID
    worker_id: uuid.UUID


class CompleteJob(JobCommand):
    lease_id: uuid.UUID
    output: Any = None
    duration_ms: int | None = Field(default=None, ge=0)


class FailJob(JobCommand):
    lease_id: uuid.UUID
    error_message: str = Field(max_length=MAX_ERROR_CHARS)
    error_type: str | None = Field(default=None, max_length=200)
    retryable: bool = True
    retry_delay_seconds: float | None = Field(default=None, ge=0, le=7 * 86_400, description="Overrides the backoff.")


class ExtendLease(JobCommand):
    lease_id: uuid.UUID
    seconds: int = Field(ge=1, le=86_400)


class ExpireLease(JobCommand):
    """From the owner's timer (deadline passed) or the worker registry (worker went offline)."""

    lease_id: uuid.UUID
    reason: Literal["timeout", "worker_lost"] = "timeout"


class PromoteJob(JobCommand):
    """From the owner's timer: a scheduled job's time has come."""


class CancelJob(JobCommand):
    pass


class RetryJob(JobCommand):
    """A person asks for a new round of attempts for a failed or dead-lettered job."""


class ArchiveJob(JobCommand):
    """From the owner's retention timer (``streams.retention``): the job ended long enough ago.

    ``round`` is the job's round when the timer saw it ended: a manual retry since starts another
    round, and makes this command a no-op even if the new round has ended too.
    """

    round: int = Field(ge=1)


# --- events: what happened to the job ------------------------------------------------------


@register_event
class JobSubmitted(DomainEvent):
    event_type = "JobSubmitted"
    schema_version = 1

    job_id: uuid.UUID
    queue_id: uuid.UUID
    queue_name: str
    job_type: str = Field(min_length=1, max_length=100)
    payload: dict[str, Any]
    priority: int = Field(ge=0, le=MAX_PRIORITY)
    max_attempts: int = Field(ge=1, le=MAX_ATTEMPTS)
    scheduled_for: AwareDatetime | None = None
    idempotency_key: str | None = None
    status: JobStatus
    policy: JobPolicy = Field(default_factory=JobPolicy)
    dead_letter_of: uuid.UUID | None = None


@register_event
class JobBecameReady(DomainEvent):
    event_type = "JobBecameReady"
    schema_version = 1

    job_id: uuid.UUID


@register_event
class JobLeased(DomainEvent):
    event_type = "JobLeased"
    schema_version = 1

    job_id: uuid.UUID
    lease_id: uuid.UUID
    worker_id: uuid.UUID
    attempt: int = Field(ge=1, le=MAX_ATTEMPTS)
    deadline: AwareDatetime
    # when the attempt began (the decision's time); None in events written before it was recorded
    leased_at: AwareDatetime | None = None


@register_event
class JobLeaseExtended(DomainEvent):
    event_type = "JobLeaseExtended"
    schema_version = 1

    job_id: uuid.UUID
    lease_id: uuid.UUID
    deadline: AwareDatetime


@register_event
class JobSucceeded(DomainEvent):
    event_type = "JobSucceeded"
    schema_version = 1

    job_id: uuid.UUID
    lease_id: uuid.UUID
    worker_id: uuid.UUID
    attempt: int
    output: Any = None
    duration_ms: int | None = None
    # when the attempt began, so that the processing time is a function of this event alone (read models
    # count outcomes per event); None when the lease did not record it
    started_at: AwareDatetime | None = None


@register_event
class JobAttemptFailed(DomainEvent):
    """One attempt failed. Exactly one of retry_at / final outcome follows in the same decision."""

    event_type = "JobAttemptFailed"
    schema_version = 1

    job_id: uuid.UUID
    lease_id: uuid.UUID
    worker_id: uuid.UUID
    attempt: int
    reason: FailureReason
    error_message: str
    error_type: str | None = None
    retryable: bool = True


@register_event
class JobRetryScheduled(DomainEvent):
    event_type = "JobRetryScheduled"
    schema_version = 1

    job_id: uuid.UUID
    retry_at: AwareDatetime
    delay_seconds: float


@register_event
class JobFailed(DomainEvent):
    """No attempt left (or the error was not retryable) and no dead-letter queue."""

    event_type = "JobFailed"
    schema_version = 1

    job_id: uuid.UUID
    attempts: int


@register_event
class JobDeadLettered(DomainEvent):
    """No attempt left; a copy goes to the dead-letter queue as a new job, linked to this one."""

    event_type = "JobDeadLettered"
    schema_version = 1

    job_id: uuid.UUID
    attempts: int
    dead_letter_queue_id: uuid.UUID
    dead_letter_job_id: uuid.UUID


@register_event
class JobCancelled(DomainEvent):
    event_type = "JobCancelled"
    schema_version = 1

    job_id: uuid.UUID


@register_event
class JobRetried(DomainEvent):
    """A manual retry: a new round of attempts starts, attempt_count back to 0."""

    event_type = "JobRetried"
    schema_version = 1

    job_id: uuid.UUID
    round: int = Field(ge=2)


@register_event
class JobArchived(DomainEvent):
    """The job's owner stopped holding it, its retention over (``streams.retention``).

    The job stays in the read model as it ended; commands for it find no job at its owner.
    """

    event_type = "JobArchived"
    schema_version = 1

    job_id: uuid.UUID
    status: JobStatus


@register_event
class JobReportRejected(DomainEvent):
    """A worker's complete, fail or extend arrived for a lease that is no longer live. Kept for the audit."""

    event_type = "JobReportRejected"
    schema_version = 1

    job_id: uuid.UUID
    lease_id: uuid.UUID
    report: ReportKind
    reason: RejectionReason
