"""Queue events and the queue settings value object.

Queue events go to a compacted topic keyed by queue id, so each one carries the
queue's whole state: compaction keeps only the newest record of a key.
"""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict, Field, model_validator

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


@register_event
class QueueCreated(DomainEvent):
    event_type = "QueueCreated"
    schema_version = 1

    queue_id: uuid.UUID
    name: str = Field(min_length=1, max_length=100, pattern=QUEUE_NAME_PATTERN)
    description: str | None = Field(default=None, max_length=500)
    priority: int = Field(ge=0, le=9)
    settings: QueueSettings
    is_active: bool = True
