"""Queue requests and views (seed 000 §5)."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from schemas.api.common import Pagination
from schemas.queue import QUEUE_NAME_PATTERN, QueueSettings


class QueueCreateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, pattern=QUEUE_NAME_PATTERN)
    description: str | None = Field(default=None, max_length=500)
    project_id: uuid.UUID | None = Field(
        default=None, description="Optional; must be the caller's project. The tenant always comes from the credentials."
    )
    priority: int = Field(default=0, ge=0, le=9)
    settings: QueueSettings = Field(default_factory=QueueSettings)


class QueueView(BaseModel):
    id: uuid.UUID
    project_id: uuid.UUID
    name: str
    description: str | None
    priority: int
    settings: QueueSettings
    is_active: bool
    created_at: datetime
    updated_at: datetime


class QueueStats(BaseModel):
    pending_jobs: int = 0
    processing_jobs: int = 0
    succeeded_jobs: int = 0
    failed_jobs: int = 0
    scheduled_jobs: int = 0
    cancelled_jobs: int = 0
    dead_lettered_jobs: int = 0


class QueueWithStats(QueueView):
    stats: QueueStats


class QueueList(BaseModel):
    queues: list[QueueWithStats]
    pagination: Pagination
