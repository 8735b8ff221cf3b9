"""Log records to read-model rows, without a broker or a database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import orjson

from projections.rows import COLUMNS, LogRecord, rows_for
from schemas.envelope import Tenant, wrap
from schemas.job import JobStatus, JobSubmitted
from schemas.queue import QueueCreated, QueueSettings

TENANT = Tenant(organization_id=uuid.uuid4(), project_id=uuid.uuid4())
AT = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)


def record(event: object, aggregate_id: uuid.UUID, offset: int) -> LogRecord:
    env = wrap(event, tenant=TENANT, aggregate_id=aggregate_id, occurred_at=AT, event_id=uuid.uuid4(),  # type: ignore[arg-type]
               correlation_id="req-9", actor="api_key:tf_x")
    return LogRecord(env, "t.job-events", 2, offset)


def test_job_submitted_becomes_a_job_row_and_a_history_row() -> None:
    job_id, queue_id = uuid.uuid4(), uuid.uuid4()
    event = JobSubmitted(job_id=job_id, queue_id=queue_id, queue_name="q", job_type="t", payload={"k": [1]},
                         priority=7, max_attempts=4, status=JobStatus.SCHEDULED, scheduled_for=AT,
                         idempotency_key="idem")
    tables = rows_for([record(event, job_id, 41)])
    (job,) = tables["jobs"]
    row = dict(zip(COLUMNS["jobs"], job, strict=True))
    assert row["organization_id"] == TENANT.organization_id and row["project_id"] == TENANT.project_id
    assert (row["id"], row["queue_id"], row["status"], row["priority"], row["max_attempts"]) == (
        job_id, queue_id, "scheduled", 7, 4)
    assert orjson.loads(row["payload"]) == {"k": [1]}
    assert row["attempt_count"] == 0 and row["completed_at"] is None
    assert row["created_at"] == AT and row["scheduled_for"] == AT and row["idempotency_key"] == "idem"
    assert row["version"] == 41
    (history,) = tables["job_events"]
    hist = dict(zip(COLUMNS["job_events"], history, strict=True))
    assert (hist["job_id"], hist["event_type"], hist["kafka_partition"], hist["kafka_offset"]) == (
        job_id, "JobSubmitted", 2, 41)
    assert hist["correlation_id"] == "req-9" and hist["actor"] == "api_key:tf_x"
    assert orjson.loads(hist["data"])["job_id"] == str(job_id)


def test_queue_created_becomes_a_queue_row() -> None:
    queue_id = uuid.uuid4()
    event = QueueCreated(queue_id=queue_id, name="emails", priority=1, settings=QueueSettings(max_concurrent_jobs=2))
    (queue,) = rows_for([record(event, queue_id, 3)])["queues"]
    row = dict(zip(COLUMNS["queues"], queue, strict=True))
    assert (row["id"], row["name"], row["is_active"], row["deleted"], row["version"]) == (queue_id, "emails", True, False, 3)
    assert orjson.loads(row["settings"])["max_concurrent_jobs"] == 2


def test_the_same_records_give_the_same_rows() -> None:
    job_id = uuid.uuid4()
    event = JobSubmitted(job_id=job_id, queue_id=uuid.uuid4(), queue_name="q", job_type="t", payload={},
                         priority=0, max_attempts=1, status=JobStatus.PENDING)
    batch = [record(event, job_id, 5)]
    assert rows_for(batch) == rows_for(batch)
