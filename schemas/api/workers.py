"""Worker requests and views (seed 000 §7) and the worker protocol: lease, complete, fail, extend."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from schemas.api.common import ErrorBody, JsonObject, JsonValue
from schemas.api.jobs import JOB_TYPE_PATTERN
from schemas.job import MAX_ERROR_CHARS
from schemas.queue import QUEUE_NAME_PATTERN, QueueName

NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.:@/-]*$"


class WorkerRegisterRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, pattern=NAME_PATTERN)
    worker_type: str = Field(default="default", min_length=1, max_length=100, pattern=NAME_PATTERN)
    queues: list[QueueName] = Field(min_length=1, max_length=50, description="Names of the queues it takes work from.")
    job_types: list[str] = Field(default_factory=list, max_length=100, description="Empty: every type.")
    max_concurrent_jobs: int = Field(default=10, ge=1, le=1_000)
    heartbeat_interval_seconds: int = Field(default=30, ge=1, le=300)
    metadata: JsonObject = Field(default_factory=dict, description="Free-form; at most 16 KiB of JSON.")

    @field_validator("queues")
    @classmethod
    def _queue_names(cls, names: list[str]) -> list[str]:
        for name in names:
            if not 1 <= len(name) <= 100 or not re.match(QUEUE_NAME_PATTERN, name):
                raise ValueError(f"invalid queue name {name!r}")
        return names

    @field_validator("job_types")
    @classmethod
    def _job_types(cls, job_types: list[str]) -> list[str]:
        for job_type in job_types:
            if not 1 <= len(job_type) <= 100 or not re.match(JOB_TYPE_PATTERN, job_type):
                raise ValueError(f"invalid job type {job_type!r}")
        return job_types


class QueueRef(BaseModel):
    id: uuid.UUID
    name: str


class WorkerView(BaseModel):
    id: uuid.UUID
    name: str
    worker_type: str
    queues: list[QueueRef]
    job_types: list[str]
    max_concurrent_jobs: int
    heartbeat_interval_seconds: int
    metadata: dict[str, Any]
    status: Literal["online", "draining", "offline", "deregistered"]
    registered_at: datetime
    last_heartbeat_at: datetime
    next_expected_heartbeat: datetime
    uptime_seconds: float
    active_jobs: int = Field(description="Jobs this worker holds a live lease on, from the read model.")


class WorkerList(BaseModel):
    workers: list[WorkerView]
    total: int


class HeartbeatView(BaseModel):
    worker_id: uuid.UUID
    status: str
    next_expected_heartbeat: datetime


class LeaseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_jobs: int = Field(default=1, ge=1, le=100)
    wait_seconds: float = Field(default=0, ge=0, le=30, description="Long-poll: wait up to this long for work.")
    queue: str | None = Field(default=None, max_length=100, description="One of the worker's queues; default all.")


class LeasedJob(BaseModel):
    id: uuid.UUID
    queue_id: uuid.UUID
    queue_name: str
    job_type: str
    payload: dict[str, Any]
    priority: int
    attempt: int
    max_attempts: int
    lease_id: uuid.UUID
    lease_deadline: datetime


class LeaseResponse(BaseModel):
    jobs: list[LeasedJob]


class CompleteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lease_id: uuid.UUID
    output: JsonValue = None
    duration_ms: int | None = Field(default=None, ge=0, le=7 * 86_400_000)


class FailRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lease_id: uuid.UUID
    error_message: str = Field(min_length=1, max_length=MAX_ERROR_CHARS)
    error_type: str | None = Field(default=None, max_length=200)
    retryable: bool = True
    retry_delay_seconds: float | None = Field(default=None, ge=0, le=7 * 86_400)


class CompleteItem(CompleteRequest):
    job_id: uuid.UUID


class FailItem(FailRequest):
    job_id: uuid.UUID


class CompleteBatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reports: list[CompleteItem] = Field(min_length=1, max_length=1_000)


class FailBatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reports: list[FailItem] = Field(min_length=1, max_length=1_000)


class ReportResult(BaseModel):
    job_id: uuid.UUID
    status: int = Field(description="What the single-job route would have answered: 200, 404, 409, 413, 503.")
    error: ErrorBody | None = None


class ReportBatchResult(BaseModel):
    results: list[ReportResult]
    accepted: int
    refused: int


class ExtendRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lease_id: uuid.UUID
    seconds: int = Field(ge=1, le=86_400)
