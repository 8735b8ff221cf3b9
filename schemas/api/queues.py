"""Queue requests and views (seed 000 §5)."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic.fields import FieldInfo

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


class _SettingsPatchBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    def changes(self) -> dict[str, object]:
        """Only what the request named; an explicit null for ``dead_letter_queue_id`` removes it."""
        return {name: getattr(self, name) for name in self.model_fields_set
                if getattr(self, name) is not None or name == "dead_letter_queue_id"}


# Every setting of QueueSettings, optional, with the same bounds: the fields left out keep their value.
QueueSettingsPatch = create_model(
    "QueueSettingsPatch", __base__=_SettingsPatchBase,
    **{name: (info.annotation | None, FieldInfo.merge_field_infos(info, default=None))  # type: ignore[misc]
       for name, info in QueueSettings.model_fields.items()},
)


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
