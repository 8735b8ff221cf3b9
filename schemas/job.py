"""Job states, commands and events."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from schemas.envelope import DomainEvent, register_event

MAX_PRIORITY = 9
MAX_ATTEMPTS = 10


class JobStatus(StrEnum):
    """Where a job is in its life, and who moves it in and out of each state.

    - ``scheduled``: in by submission with ``scheduled_for`` in the future; out by the
      scheduler timer when that time comes (to ``pending``) or by cancel.
    - ``pending``: in by submission, by the scheduler, by a retry after backoff or by a
      manual retry; out by a lease (to ``processing``) or by cancel.
    - ``processing``: in by a lease; out by complete (``succeeded``), by fail or lease
      expiry (``pending`` again through backoff, or ``failed``/``dead_lettered`` after
      the last attempt).
    - ``succeeded``, ``failed``, ``cancelled``, ``dead_lettered``: terminal; only a
      manual retry takes a ``failed`` or ``dead_lettered`` job out again.
    """

    PENDING = "pending"
    SCHEDULED = "scheduled"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    DEAD_LETTERED = "dead_lettered"


class SubmitJob(BaseModel):
    """A validated request to create a job in a known queue."""

    model_config = ConfigDict(frozen=True)

    job_id: uuid.UUID
    queue_id: uuid.UUID
    queue_name: str
    job_type: str
    payload: dict[str, Any]
    priority: int = Field(ge=0, le=MAX_PRIORITY)
    max_attempts: int | None = Field(default=None, ge=1, le=MAX_ATTEMPTS, description="None: the queue's default.")
    queue_max_retries: int = Field(ge=0, le=MAX_ATTEMPTS - 1)
    scheduled_for: AwareDatetime | None = None
    idempotency_key: str | None = None


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
