"""The owner's table update: applied once, redeliveries ignored, poison skipped."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from schemas.envelope import Tenant, encode, wrap
from schemas.job import JobStatus, JobSubmitted
from streams.job_owner import OwnedJob, apply_job_record


def record(job_id: uuid.UUID) -> bytes:
    event = JobSubmitted(job_id=job_id, queue_id=uuid.uuid4(), queue_name="q", job_type="t", payload={},
                         priority=2, max_attempts=3, status=JobStatus.PENDING)
    return encode(wrap(event, tenant=Tenant(organization_id=uuid.uuid4(), project_id=uuid.uuid4()),
                       aggregate_id=job_id, occurred_at=datetime.now(UTC), event_id=uuid.uuid4()))


def test_an_event_is_applied_once_and_redeliveries_change_nothing() -> None:
    table: dict[bytes, bytes] = {}
    job_id = uuid.uuid4()
    key, value = str(job_id).encode(), record(job_id)
    assert apply_job_record(table, key, value, offset=7) is True
    stored = table[key]
    assert OwnedJob.model_validate_json(stored).state.status is JobStatus.PENDING
    assert OwnedJob.model_validate_json(stored).offset == 7
    assert apply_job_record(table, key, value, offset=7) is False
    assert apply_job_record(table, key, value, offset=3) is False
    assert table[key] == stored


def test_poison_and_unknown_records_are_skipped() -> None:
    table: dict[bytes, bytes] = {}
    assert apply_job_record(table, b"k", b"not json", offset=1) is False
    assert apply_job_record(table, b"k", b'{"event_type": "FromTheFuture", "schema_version": 1, "data": {}}', 2) is False
    assert table == {}
