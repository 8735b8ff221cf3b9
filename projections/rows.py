"""Turn log records into read-model rows. Pure: no I/O, so recorded logs can be checked without a broker.

A job row carries the job's ``version``: the sequence its owner gave the newest event
applied. An event whose sequence is not newer (a redelivered decision) changes nothing.

The jobs tables collapse (VersionedCollapsingMergeTree): a batch that changes a job writes a
*cancel* row (the row as it stood, ``sign = -1``) and the new row (``sign = +1``). Counting
by ``sum(sign)`` is then exact without FINAL, which is what keeps depth and list totals cheap
over millions of jobs: a job's old status is taken back by its cancel row. The time-ordered
copy, ``jobs_by_time``, gets each changed job's new row alone and replaces by version, and
``jobs_by_id`` the same row as a document under its key, so writing a row there twice is
harmless; that is how a batch that may already be stored is *restated* there.

Outcome events (succeeded, failed, dead-lettered) also become rows of ``job_outcomes``, each
a function of its event, for the metrics of a period.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import orjson

from schemas.encoding import model_json
from schemas.envelope import EventEnvelope
from schemas.job import (
    JobAttemptFailed, JobDeadLettered, JobFailed, JobLeased, JobRetried, JobRetryScheduled, JobSubmitted,
    JobSucceeded,
)
from schemas.queue import QueueChanged, QueueCreated, QueueDeleted
from schemas.worker import WorkerStateChanged
from streams.deciders.job import TRANSITIONS

JOB_COLUMNS = (
    "organization_id", "project_id", "id", "queue_id", "queue_name", "job_type", "payload", "status",
    "priority", "max_attempts", "attempt_count", "output", "error_message", "worker_id", "duration_ms",
    "scheduled_for", "idempotency_key", "created_at", "updated_at", "started_at", "completed_at", "version",
)
job_values: Callable[[Row], tuple[Any, ...]] = itemgetter(*JOB_COLUMNS)
"""A job row's values in ``JOB_COLUMNS`` order (one C call: the projector takes two or three per changed job)."""
JOB_EVENT_COLUMNS = (
    "organization_id", "project_id", "job_id", "event_id", "event_type", "schema_version", "sequence", "occurred_at",
    "actor", "correlation_id", "causation_id", "data", "kafka_partition", "kafka_offset",
)
JOB_TABLE_COLUMNS = (*JOB_COLUMNS, "sign")
JOB_DOC_COLUMNS = ("id", "organization_id", "project_id", "version", "doc")
OUTCOME_COLUMNS = ("organization_id", "project_id", "queue_id", "occurred_at", "event_id", "job_id", "outcome", "took_ms")
QUEUE_COLUMNS = (
    "organization_id", "project_id", "id", "name", "description", "priority", "settings", "is_active",
    "deleted", "created_at", "updated_at", "version",
)
WORKER_COLUMNS = (
    "organization_id", "project_id", "id", "name", "worker_type", "queue_ids", "job_types", "max_concurrent_jobs",
    "heartbeat_interval_seconds", "metadata", "status", "registered_at", "last_heartbeat_at", "version",
)
COLUMNS: dict[str, tuple[str, ...]] = {"jobs": JOB_TABLE_COLUMNS, "jobs_by_time": JOB_COLUMNS,
                                       "jobs_by_id": JOB_DOC_COLUMNS, "job_events": JOB_EVENT_COLUMNS,
                                       "job_outcomes": OUTCOME_COLUMNS, "queues": QUEUE_COLUMNS,
                                       "workers": WORKER_COLUMNS}
JOB_EVENT_TYPES = frozenset({"JobSubmitted", *TRANSITIONS})
#: job events that the history records but the job's row does not show: a refused report, and the owner letting
#: go of an ended job (the read model keeps the job as it ended)
_ROW_UNCHANGED = frozenset({"JobReportRejected", "JobArchived"})

Row = dict[str, Any]


@dataclass(frozen=True)
class LogRecord:
    """A decoded event and where it stood in the log."""

    envelope: EventEnvelope
    topic: str
    partition: int
    offset: int


def is_job_event(record: LogRecord) -> bool:
    return record.envelope.event_type in JOB_EVENT_TYPES


def may_change_job_row(record: LogRecord) -> bool:
    """Whether the job's stored row is needed to apply this event (a history-only one leaves it as it is)."""
    return record.envelope.event_type in JOB_EVENT_TYPES and record.envelope.event_type not in _ROW_UNCHANGED


def _sequence(envelope: EventEnvelope) -> int:
    return envelope.sequence if envelope.sequence is not None else 1


def job_row_after(row: Row | None, record: LogRecord) -> Row | None:
    """The job's row after one event, or None when the event changes nothing (a repeat, a rejected report)."""
    e, event = record.envelope, record.envelope.data
    version = _sequence(e)
    if isinstance(event, JobSubmitted):
        if row is not None:
            return None
        return {
            "organization_id": e.organization_id, "project_id": e.project_id, "id": event.job_id,
            "queue_id": event.queue_id, "queue_name": event.queue_name, "job_type": event.job_type,
            "payload": orjson.dumps(event.payload).decode(), "status": event.status.value,
            "priority": event.priority, "max_attempts": event.max_attempts, "attempt_count": 0, "output": None,
            "error_message": None, "worker_id": None, "duration_ms": None, "scheduled_for": event.scheduled_for,
            "idempotency_key": event.idempotency_key, "created_at": e.occurred_at, "updated_at": e.occurred_at,
            "started_at": None, "completed_at": None, "version": version,
        }
    if row is None or version <= row["version"] or e.event_type in _ROW_UNCHANGED:
        return None
    after = TRANSITIONS[e.event_type][1]
    changes: Row = {"version": version, "updated_at": e.occurred_at}
    if after is not None:
        changes["status"] = after.value
    if isinstance(event, JobLeased):
        changes.update(attempt_count=event.attempt, worker_id=event.worker_id, started_at=e.occurred_at,
                       completed_at=None)
    elif isinstance(event, JobSucceeded):
        changes.update(output=orjson.dumps(event.output).decode() if event.output is not None else None,
                       duration_ms=event.duration_ms, worker_id=event.worker_id, error_message=None,
                       completed_at=e.occurred_at)
    elif isinstance(event, JobAttemptFailed):
        changes.update(error_message=event.error_message, worker_id=event.worker_id)
    elif isinstance(event, JobRetryScheduled):
        changes.update(scheduled_for=event.retry_at)
    elif isinstance(event, JobFailed | JobDeadLettered) or e.event_type == "JobCancelled":
        changes.update(completed_at=e.occurred_at)
    elif isinstance(event, JobRetried):
        changes.update(attempt_count=0, completed_at=None, scheduled_for=None)
    return {**row, **changes}


def live_job_rows(stored: list[Row]) -> dict[Any, Row]:
    """Each job's current row from its rows in the collapsing table, as ``FINAL`` would give it (without ``sign``).

    Reading a few rows by key and collapsing them here costs half of what ``FINAL`` costs in
    ClickHouse for a point read. A version's rows sum to +1 while it is current and to 0 once
    cancelled, whether or not a merge has removed the pair yet; the newest live version wins.
    """
    net: dict[tuple[Any, int], int] = defaultdict(int)
    for row in stored:
        net[(row["id"], row["version"])] += row["sign"]
    live: dict[Any, Row] = {}
    for row in stored:
        job_id, version = row["id"], row["version"]
        if row["sign"] > 0 and net[(job_id, version)] > 0 and (job_id not in live or version > live[job_id]["version"]):
            live[job_id] = {k: v for k, v in row.items() if k != "sign"}
    return live


def job_doc_row(values: tuple[Any, ...]) -> tuple[Any, ...]:
    """The row of ``jobs_by_id``, from a job row's ``job_values``: its columns as one JSON document, under its id."""
    row = dict(zip(JOB_COLUMNS, values, strict=True))
    doc = orjson.dumps(row, option=orjson.OPT_NAIVE_UTC).decode()
    return row["id"], row["organization_id"], row["project_id"], row["version"], doc


def job_from_doc(doc: str) -> Row:
    """A job row back from its document (ids and times as strings, which the API's models accept)."""
    row: Row = orjson.loads(doc)
    return row


_OUTCOMES = {"JobSucceeded": "succeeded", "JobFailed": "failed", "JobDeadLettered": "dead_lettered"}


def outcome_row(record: LogRecord, queue_id: Any) -> tuple[Any, ...] | None:
    """An outcome event as a row of ``job_outcomes``, or None for any other event.

    Processing time is the worker's reported duration, or lease-to-completion when it reported none
    (and the event says when the attempt began); a job's queue never changes, so any row of it tells it.
    """
    e = record.envelope
    outcome = _OUTCOMES.get(e.event_type)
    if outcome is None:
        return None
    took: float | None = None
    if isinstance(e.data, JobSucceeded):
        if e.data.duration_ms is not None:
            took = float(e.data.duration_ms)
        elif e.data.started_at is not None:
            took = max(0.0, (e.occurred_at - e.data.started_at).total_seconds() * 1000)
    return e.organization_id, e.project_id, queue_id, e.occurred_at, e.event_id, e.aggregate_id, outcome, took


def job_event_row(record: LogRecord) -> tuple[Any, ...]:
    e = record.envelope
    return (
        e.organization_id, e.project_id, e.aggregate_id, e.event_id, e.event_type, e.schema_version, _sequence(e),
        e.occurred_at, e.actor, e.correlation_id, e.causation_id, model_json(e.data).decode(),
        record.partition, record.offset,
    )


def queue_row(record: LogRecord, event: QueueCreated | QueueDeleted) -> tuple[Any, ...]:
    """The queue as this record leaves it (each record holds the whole state; a deletion keeps the name)."""
    e = record.envelope
    if isinstance(event, QueueDeleted):
        return (e.organization_id, e.project_id, event.queue_id, event.name, None, 0, "{}", False, True,
                e.occurred_at, e.occurred_at, record.offset)
    created_at = event.created_at if isinstance(event, QueueChanged) else e.occurred_at
    return (
        e.organization_id, e.project_id, event.queue_id, event.name, event.description, event.priority,
        orjson.dumps(event.settings.model_dump(mode="json")).decode(), event.is_active, False, created_at,
        e.occurred_at, record.offset,
    )


def worker_row(record: LogRecord, event: WorkerStateChanged) -> tuple[Any, ...]:
    """The worker as this record leaves it (each record holds the whole state)."""
    e, w = record.envelope, event.worker
    return (
        e.organization_id, e.project_id, w.worker_id, w.name, w.worker_type, list(w.queue_ids), list(w.job_types),
        w.max_concurrent_jobs, w.heartbeat_interval_seconds, orjson.dumps(w.metadata).decode(), w.status,
        w.registered_at, w.last_heartbeat_at, record.offset,
    )


def rows_for(records: list[LogRecord], current: dict[Any, Row], restated: Collection[Any] = ()
             ) -> tuple[dict[str, list[tuple[Any, ...]]], dict[Any, Row]]:
    """The rows a batch adds to each table, and the job rows it changed.

    ``current`` holds the job rows as they stand before the batch, exactly as stored (it is not modified):
    each changed job gets a cancel row of that state and a row of its new state. The jobs in
    ``restated`` whose row this batch leaves unchanged still get that row written to ``jobs_by_time``
    and ``jobs_by_id``: an earlier run may have stored their jobs rows and died before their copies.
    """
    tables: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    changed: dict[Any, Row] = {}
    for record in records:
        event = record.envelope.data
        if is_job_event(record):
            job_id = record.envelope.aggregate_id
            before = changed.get(job_id) or current.get(job_id)
            row = job_row_after(before, record)
            if row is not None:
                changed[job_id] = row
            tables["job_events"].append(job_event_row(record))
            known = row or before
            outcome = outcome_row(record, known["queue_id"]) if known is not None else None
            if outcome is not None:  # written whether or not the row changed: a crash may have lost it
                tables["job_outcomes"].append(outcome)
        elif isinstance(event, QueueCreated | QueueDeleted):
            tables["queues"].append(queue_row(record, event))
        elif isinstance(event, WorkerStateChanged):
            tables["workers"].append(worker_row(record, event))
    for job_id, row in changed.items():
        before = current.get(job_id)
        if before is not None:  # take the stored state back before writing the new one
            tables["jobs"].append((*job_values(before), -1))
        values = job_values(row)
        tables["jobs"].append((*values, 1))
        tables["jobs_by_time"].append(values)
        tables["jobs_by_id"].append(job_doc_row(values))
    for job_id in restated:
        stored = current.get(job_id)
        if job_id not in changed and stored is not None:
            values = job_values(stored)
            tables["jobs_by_time"].append(values)
            tables["jobs_by_id"].append(job_doc_row(values))
    return dict(tables), changed
