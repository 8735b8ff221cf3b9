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


class QueueSettingsPatch(BaseModel):
    """Settings to change; the ones left out keep their value. Bounds as in ``QueueSettings``."""

    model_config = ConfigDict(extra="forbid")

    max_concurrent_jobs: int | None = Field(default=None, ge=1, le=10_000)
    max_retries: int | None = Field(default=None, ge=0, le=9)
    timeout_seconds: int | None = Field(default=None, ge=1, le=86_400)
    retry_delay_seconds: int | None = Field(default=None, ge=0, le=86_400)
    max_retry_delay_seconds: int | None = Field(default=None, ge=0, le=7 * 86_400)
    backoff_multiplier: float | None = Field(default=None, ge=1.0, le=10.0)
    dead_letter_queue_id: uuid.UUID | None = Field(default=None, description="null removes the dead-letter queue.")

    def changes(self) -> dict[str, object]:
        """Only what the request named; an explicit null for ``dead_letter_queue_id`` removes it."""
        return {name: getattr(self, name) for name in self.model_fields_set
                if getattr(self, name) is not None or name == "dead_letter_queue_id"}


class QueueUpdateRequest(BaseModel):
    """A partial update (seed 000 §5.3): only the fields present change; settings merge key by key."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=100, pattern=QUEUE_NAME_PATTERN)
    description: str | None = Field(default=None, max_length=500, description="null clears the description.")
    priority: int | None = Field(default=None, ge=0, le=9)
    settings: QueueSettingsPatch = Field(default_factory=QueueSettingsPatch)
    is_active: bool | None = Field(default=None, description="false pauses the queue, true resumes it.")


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
