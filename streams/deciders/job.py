"""The job aggregate's rules.

Submission is the only command so far; leasing, completion, retries and timeouts
arrive with the job engine and extend ``decide`` and ``evolve`` here.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from functools import singledispatch
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict

from schemas.envelope import DomainEvent
from schemas.job import JobStatus, JobSubmitted, SubmitJob


class JobAlreadyExists(Exception):
    """A submission for a job id that the owner already holds."""


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


def decide(state: JobState | None, command: SubmitJob, now: datetime) -> list[DomainEvent]:
    """Decide what a command does to a job. Raises a typed error when it may not happen."""
    if state is not None:
        raise JobAlreadyExists(str(command.job_id))
    return [
        JobSubmitted(
            job_id=command.job_id,
            queue_id=command.queue_id,
            queue_name=command.queue_name,
            job_type=command.job_type,
            payload=command.payload,
            priority=command.priority,
            max_attempts=command.max_attempts,
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
