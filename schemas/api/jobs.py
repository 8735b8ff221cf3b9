"""Job requests and views (seed 000 §6)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from schemas.api.common import ErrorBody, JsonObject, Pagination
from schemas.job import MAX_ATTEMPTS, MAX_PRIORITY, JobStatus
from schemas.queue import QUEUE_NAME_PATTERN

JOB_TYPE_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.:/-]*$"


class JobSubmitRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    queue_name: str = Field(min_length=1, max_length=100, pattern=QUEUE_NAME_PATTERN)
    job_type: str = Field(min_length=1, max_length=100, pattern=JOB_TYPE_PATTERN)
    payload: JsonObject = Field(default_factory=dict, description="A JSON object; its encoding is size-limited, "
                             "its nesting at most 32 deep.")
    priority: int = Field(default=0, ge=0, le=MAX_PRIORITY, description="0-9, higher runs first.")
    max_attempts: int | None = Field(
        default=None, ge=1, le=MAX_ATTEMPTS, description="Defaults to the queue's max_retries + 1 (at most 10)."
    )
    scheduled_for: AwareDatetime | None = Field(default=None, description="With a time zone; a past time runs now.")
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=255)


class ScheduledJobSubmitRequest(JobSubmitRequest):
    scheduled_for: AwareDatetime


class ExecutionStats(BaseModel):
    duration_ms: int | None
    worker_id: uuid.UUID | None


class JobView(BaseModel):
    id: uuid.UUID
    queue_id: uuid.UUID
    queue_name: str
    job_type: str
    payload: dict[str, Any]
    status: JobStatus
    priority: int
    max_attempts: int
    attempt_count: int
    output: Any = None
    error_message: str | None = None
    scheduled_for: datetime | None = None
    idempotency_key: str | None = None
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None = None
    execution_stats: ExecutionStats | None = None


class JobListItem(BaseModel):
    id: uuid.UUID
    queue_id: uuid.UUID
    queue_name: str
    job_type: str
    status: JobStatus
    priority: int
    attempt_count: int
    scheduled_for: datetime | None = None
    created_at: datetime
    updated_at: datetime


class JobList(BaseModel):
    jobs: list[JobListItem]
    pagination: Pagination


class JobEventView(BaseModel):
    event_id: uuid.UUID
    event_type: str
    sequence: int
    occurred_at: datetime
    actor: str | None
    correlation_id: str | None
    causation_id: uuid.UUID | None
    data: dict[str, Any]


class AttemptStats(BaseModel):
    round: int = Field(description="1, then one more for every manual retry.")
    attempt: int
    worker_id: uuid.UUID
    leased_at: datetime
    ended_at: datetime | None
    outcome: Literal["running", "succeeded", "failed"]
    reason: str | None = Field(description="For a failed attempt: error (the worker reported it), timeout or worker_lost.")
    error_message: str | None
    duration_ms: int | None = Field(description="As the worker reported it, else lease to end.")


class JobStats(BaseModel):
    job_id: uuid.UUID
    submitted_at: datetime
    finished_at: datetime | None
    rounds: int
    attempts: list[AttemptStats]
    failed_attempts: int
    rejected_reports: int = Field(description="Reports that came with an expired or superseded lease.")
    wait_before_first_lease_ms: int | None
    processing_ms: int
    total_ms: int | None = Field(description="Submission to the end; null while the job is live.")


class JobHistory(BaseModel):
    job_id: uuid.UUID
    events: list[JobEventView]


class JobBatchRequest(BaseModel):
    """Up to ``TASKFORGE_MAX_BATCH_JOBS`` submissions; each is validated on its own."""

    model_config = ConfigDict(extra="forbid")

    jobs: list[Any] = Field(min_length=1, description="Each item has the shape of a POST /jobs body.")


class JobBatchItem(BaseModel):
    index: int
    status: int = Field(description="What POST /jobs would have answered for this item: 201, 200 (repeat), 4xx, 503.")
    job: JobView | None = None
    error: ErrorBody | None = None


class JobBatchResult(BaseModel):
    results: list[JobBatchItem]
    submitted: int
    duplicates: int
    failed: int
