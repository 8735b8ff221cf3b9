"""The job aggregate's rules.

Submission is the only command so far; leasing, completion, retries and timeouts
arrive with the job engine and extend ``decide`` and ``evolve`` here.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from functools import singledispatch
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict

from schemas.envelope import DomainEvent
from schemas.job import MAX_ATTEMPTS, JobStatus, JobSubmitted, SubmitJob
from taskforge.errors import Conflict, InvalidInput

MAX_SCHEDULE_AHEAD = timedelta(days=366)


class JobAlreadyExists(Conflict):
    """A submission for a job id that the owner already holds."""


class ScheduledTooFarAhead(InvalidInput):
    """``scheduled_for`` beyond ``MAX_SCHEDULE_AHEAD``: almost always a unit mistake."""


class JobState(BaseModel):
    """What the owner knows of one job: enough to decide its next transition."""

    model_config = ConfigDict(frozen=True)

    job_id: uuid.UUID
    queue_id: uuid.UUID
    job_type: str
    payload: dict[str, Any]
    status: JobStatus
    priority: int
    max_attempts: int
    attempt_count: int = 0
    scheduled_for: AwareDatetime | None = None
    idempotency_key: str | None = None


def initial_status(scheduled_for: datetime | None, now: datetime) -> JobStatus:
    """A job whose time has not come yet waits as ``scheduled``; any other starts ``pending``."""
    if scheduled_for is not None and scheduled_for > now:
        return JobStatus.SCHEDULED
    return JobStatus.PENDING


def default_max_attempts(queue_max_retries: int) -> int:
    """A job without its own ``max_attempts`` gets one attempt plus the queue's retries."""
    return min(MAX_ATTEMPTS, queue_max_retries + 1)


def decide(state: JobState | None, command: SubmitJob, now: datetime) -> list[DomainEvent]:
    """Decide what a command does to a job. Raises a typed error when it may not happen."""
    if state is not None:
        raise JobAlreadyExists(f"job {command.job_id} already exists")
    if command.scheduled_for is not None and command.scheduled_for - now > MAX_SCHEDULE_AHEAD:
        raise ScheduledTooFarAhead(f"scheduled_for may be at most {MAX_SCHEDULE_AHEAD.days} days ahead",
                                   details={"field": "scheduled_for"})
    return [
        JobSubmitted(
            job_id=command.job_id,
            queue_id=command.queue_id,
            queue_name=command.queue_name,
            job_type=command.job_type,
            payload=command.payload,
            priority=command.priority,
            max_attempts=command.max_attempts or default_max_attempts(command.queue_max_retries),
            scheduled_for=command.scheduled_for,
            idempotency_key=command.idempotency_key,
            status=initial_status(command.scheduled_for, now),
        )
    ]


def evolve(state: JobState | None, event: DomainEvent) -> JobState | None:
    """Apply one event to the state. Events this aggregate does not know leave it as it is."""
    return _apply(event, state)


@singledispatch
def _apply(event: DomainEvent, state: JobState | None) -> JobState | None:
    return state


@_apply.register
def _submitted(event: JobSubmitted, state: JobState | None) -> JobState:
    return JobState(
        job_id=event.job_id,
        queue_id=event.queue_id,
        job_type=event.job_type,
        payload=event.payload,
        status=event.status,
        priority=event.priority,
        max_attempts=event.max_attempts,
        scheduled_for=event.scheduled_for,
        idempotency_key=event.idempotency_key,
    )
