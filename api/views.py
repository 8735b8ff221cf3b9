"""API views of jobs, from the owner's snapshot (write answers) or a read-model row (queries)."""

from __future__ import annotations

from typing import Any

import orjson

from schemas.api.jobs import ExecutionStats, JobView
from schemas.commands import JobSnapshot
from schemas.job import JobStatus


def job_view_from_snapshot(job: JobSnapshot) -> JobView:
    return JobView(
        id=job.id, queue_id=job.queue_id, queue_name=job.queue_name, job_type=job.job_type, payload=job.payload,
        status=job.status, priority=job.priority, max_attempts=job.max_attempts, attempt_count=job.attempt_count,
        output=job.output, error_message=job.error_message, scheduled_for=job.scheduled_for,
        idempotency_key=job.idempotency_key, created_at=job.created_at, updated_at=job.updated_at,
    )


def job_view_from_row(row: dict[str, Any]) -> JobView:
    stats = None
    if row["duration_ms"] is not None or row["worker_id"] is not None:
        stats = ExecutionStats(duration_ms=row["duration_ms"], worker_id=row["worker_id"])
    return JobView(
        id=row["id"], queue_id=row["queue_id"], queue_name=row["queue_name"], job_type=row["job_type"],
        payload=orjson.loads(row["payload"]), status=JobStatus(row["status"]), priority=row["priority"],
        max_attempts=row["max_attempts"], attempt_count=row["attempt_count"],
        output=orjson.loads(row["output"]) if row["output"] is not None else None,
        error_message=row["error_message"], scheduled_for=row["scheduled_for"], idempotency_key=row["idempotency_key"],
        created_at=row["created_at"], updated_at=row["updated_at"], completed_at=row["completed_at"],
        execution_stats=stats,
    )
