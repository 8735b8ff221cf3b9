"""Turn log records into read-model rows. Pure: no I/O, so recorded logs can be checked without a broker.

A row's version is the record's offset in its partition; all records of one aggregate
share a partition, so the newest event of an aggregate always carries the highest version.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import orjson

from schemas.envelope import EventEnvelope
from schemas.job import JobSubmitted
from schemas.queue import QueueCreated

JOB_COLUMNS = (
    "organization_id", "project_id", "id", "queue_id", "queue_name", "job_type", "payload", "status",
    "priority", "max_attempts", "attempt_count", "output", "error_message", "worker_id", "duration_ms",
    "scheduled_for", "idempotency_key", "created_at", "updated_at", "completed_at", "version",
)
JOB_EVENT_COLUMNS = (
    "organization_id", "project_id", "job_id", "event_id", "event_type", "schema_version", "occurred_at",
    "actor", "correlation_id", "causation_id", "data", "kafka_partition", "kafka_offset",
)
QUEUE_COLUMNS = (
    "organization_id", "project_id", "id", "name", "description", "priority", "settings", "is_active",
    "deleted", "created_at", "updated_at", "version",
)
COLUMNS: dict[str, tuple[str, ...]] = {"jobs": JOB_COLUMNS, "job_events": JOB_EVENT_COLUMNS, "queues": QUEUE_COLUMNS}


@dataclass(frozen=True)
class LogRecord:
    """A decoded event and where it stood in the log."""

    envelope: EventEnvelope
    topic: str
    partition: int
    offset: int


def _job_submitted_row(record: LogRecord, event: JobSubmitted) -> tuple[Any, ...]:
    e = record.envelope
    return (
        e.organization_id, e.project_id, event.job_id, event.queue_id, event.queue_name, event.job_type,
        orjson.dumps(event.payload).decode(), event.status.value, event.priority, event.max_attempts, 0,
        None, None, None, None, event.scheduled_for, event.idempotency_key, e.occurred_at, e.occurred_at, None,
        record.offset,
    )


def _job_event_row(record: LogRecord) -> tuple[Any, ...]:
    e = record.envelope
    return (
        e.organization_id, e.project_id, e.aggregate_id, e.event_id, e.event_type, e.schema_version,
        e.occurred_at, e.actor, e.correlation_id, e.causation_id, orjson.dumps(e.data.model_dump()).decode(),
        record.partition, record.offset,
    )


def _queue_created_row(record: LogRecord, event: QueueCreated) -> tuple[Any, ...]:
    e = record.envelope
    return (
        e.organization_id, e.project_id, event.queue_id, event.name, event.description, event.priority,
        orjson.dumps(event.settings.model_dump()).decode(), event.is_active, False, e.occurred_at, e.occurred_at,
        record.offset,
    )


def rows_for(records: list[LogRecord]) -> dict[str, list[tuple[Any, ...]]]:
    """The rows a batch of records adds to each table."""
    tables: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for record in records:
        event = record.envelope.data
        if isinstance(event, JobSubmitted):
            tables["jobs"].append(_job_submitted_row(record, event))
            tables["job_events"].append(_job_event_row(record))
        elif isinstance(event, QueueCreated):
            tables["queues"].append(_queue_created_row(record, event))
    return dict(tables)
