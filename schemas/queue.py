"""Queue commands and events, and the queue settings value object.

Queue events go to a compacted topic keyed by queue id, so each one carries the
queue's whole state (``created_at`` included): compaction keeps only the newest record
of a key. Commands go to ``<prefix>.queue-commands`` keyed by project id: a project's
queue catalogue has one owner, which is what makes names unique within a project.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from schemas.envelope import DomainEvent, register_event

QUEUE_NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.:-]*$"


class QueueSettings(BaseModel):
    """Per-queue dispatch and retry policy, with its documented defaults and bounds."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_concurrent_jobs: int = Field(default=10, ge=1, le=10_000)
    max_retries: int = Field(default=3, ge=0, le=9, description="Retries after the first attempt (attempts <= 10).")
    timeout_seconds: int = Field(default=300, ge=1, le=86_400, description="Lease deadline of one attempt.")
    retry_delay_seconds: int = Field(default=30, ge=0, le=86_400)
    max_retry_delay_seconds: int = Field(default=300, ge=0, le=7 * 86_400)
    backoff_multiplier: float = Field(default=2.0, ge=1.0, le=10.0)
    dead_letter_queue_id: uuid.UUID | None = None

    @model_validator(mode="after")
    def _delay_cap_covers_delay(self) -> QueueSettings:
        if self.max_retry_delay_seconds < self.retry_delay_seconds:
            raise ValueError("max_retry_delay_seconds must be at least retry_delay_seconds")
        return self


QueueName = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=QUEUE_NAME_PATTERN)]


@register_event
class QueueCreated(DomainEvent):
    event_type = "QueueCreated"
    schema_version = 1

    queue_id: uuid.UUID
    name: QueueName
    description: str | None = Field(default=None, max_length=500)
    priority: int = Field(ge=0, le=9)
    settings: QueueSettings
    is_active: bool = True


class QueueChanged(QueueCreated):
    """A later state of a queue, whole: the compacted topic may keep only this record."""

    created_at: AwareDatetime


@register_event
class QueueUpdated(QueueChanged):
    event_type = "QueueUpdated"
    schema_version = 1


@register_event
class QueuePaused(QueueChanged):
    event_type = "QueuePaused"
    schema_version = 1


@register_event
class QueueResumed(QueueChanged):
    event_type = "QueueResumed"
    schema_version = 1


@register_event
class QueueDeleted(DomainEvent):
    """The queue is gone and its name is free again; its jobs' history stays."""

    event_type = "QueueDeleted"
    schema_version = 1

    queue_id: uuid.UUID
    name: str


class QueueRecord(BaseModel):
    """One queue as the catalogue holds it, and as the owner's reply shows it."""

    model_config = ConfigDict(frozen=True)

    queue_id: uuid.UUID
    project_id: uuid.UUID
    name: str
    description: str | None
    priority: int
    settings: QueueSettings
    is_active: bool
    created_at: AwareDatetime
    updated_at: AwareDatetime
    version: int




# --- commands: what someone asks a project's queue catalogue to do ---------------------


class QueueCommand(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    project_id: uuid.UUID
    queue_id: uuid.UUID


class CreateQueue(QueueCommand):
    name: QueueName
    description: str | None = Field(default=None, max_length=500)
    priority: int = Field(ge=0, le=9)
    settings: QueueSettings


class UpdateQueue(QueueCommand):
    """A partial update: fields left out keep their value; ``settings`` is merged key by key."""

    name: QueueName | None = None
    description: str | None = Field(default=None, max_length=500)
    clear_description: bool = False
    priority: int | None = Field(default=None, ge=0, le=9)
    settings: dict[str, Any] = Field(default_factory=dict)
    is_active: bool | None = None


class PauseQueue(QueueCommand):
    pass


class ResumeQueue(QueueCommand):
    pass


class DeleteQueue(QueueCommand):
    live_jobs: int = Field(ge=0, description="The queue's live jobs as its dispatcher counted them just before.")
