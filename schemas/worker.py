"""Worker events. Workers live on a compacted topic keyed by worker id, so each event carries
the worker's whole state."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict

from schemas.envelope import DomainEvent, register_event

WorkerStatus = Literal["online", "draining", "deregistered"]
WorkerChange = Literal["registered", "heartbeat", "draining", "deregistered"]


class WorkerState(BaseModel):
    model_config = ConfigDict(frozen=True)

    worker_id: uuid.UUID
    name: str
    worker_type: str
    queue_ids: list[uuid.UUID]
    job_types: list[str]
    max_concurrent_jobs: int
    heartbeat_interval_seconds: int
    metadata: dict[str, Any]
    status: WorkerStatus
    registered_at: AwareDatetime
    last_heartbeat_at: AwareDatetime


@register_event
class WorkerStateChanged(DomainEvent):
    event_type = "WorkerStateChanged"
    schema_version = 1

    change: WorkerChange
    worker: WorkerState
