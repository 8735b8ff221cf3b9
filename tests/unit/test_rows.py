"""Log records to read-model rows, without a broker or a database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from projections.rows import (
    COLUMNS, LogRecord, job_from_doc, job_row_after, live_job_rows, may_change_job_row, rows_for,
)
from schemas.envelope import DomainEvent, Tenant, wrap
from schemas.job import (
    JobArchived, JobAttemptFailed, JobCancelled, JobFailed, JobLeased, JobReportRejected, JobRetryScheduled, JobStatus, JobSubmitted,
    JobSucceeded,
)
from schemas.queue import QueueCreated, QueueDeleted, QueuePaused, QueueSettings
from schemas.worker import WorkerState, WorkerStateChanged

TENANT = Tenant(organization_id=uuid.uuid4(), project_id=uuid.uuid4())
AT = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
JOB = uuid.uuid4()
WORKER = uuid.uuid4()


def record(event: DomainEvent, sequence: int, offset: int | None = None, at: datetime = AT,
           aggregate_id: uuid.UUID = JOB) -> LogRecord:
    env = wrap(event, tenant=TENANT, aggregate_id=aggregate_id, occurred_at=at, event_id=uuid.uuid4(),
               correlation_id="req-9", actor="api_key:tf_x", sequence=sequence)
    return LogRecord(env, "t.job-events", 2, offset if offset is not None else sequence + 40)


def submitted(**overrides: Any) -> JobSubmitted:
    values: dict[str, Any] = dict(job_id=JOB, queue_id=uuid.uuid4(), queue_name="q", job_type="t", payload={"k": [1]},
                                  priority=7, max_attempts=4, status=JobStatus.SCHEDULED, scheduled_for=AT,
                                  idempotency_key="idem")
    values.update(overrides)
    return JobSubmitted(**values)


def test_job_submitted_becomes_a_job_row_and_a_history_row() -> None:
    event = submitted()
    tables, changed = rows_for([record(event, 1, offset=41)], {})
    (job,) = tables["jobs"]
    row = dict(zip(COLUMNS["jobs"], job, strict=True))
    assert row.pop("sign") == 1, "a new job has no stored row to take back"
    assert changed[JOB] == row
    assert row["organization_id"] == TENANT.organization_id and row["project_id"] == TENANT.project_id
    assert (row["id"], row["queue_id"], row["status"], row["priority"], row["max_attempts"]) == (
        JOB, event.queue_id, "scheduled", 7, 4)
    assert orjson.loads(row["payload"]) == {"k": [1]}
    assert row["attempt_count"] == 0 and row["completed_at"] is None and row["started_at"] is None
    assert row["created_at"] == AT and row["scheduled_for"] == AT and row["idempotency_key"] == "idem"
    assert row["version"] == 1
    (history,) = tables["job_events"]
    hist = dict(zip(COLUMNS["job_events"], history, strict=True))
    assert (hist["job_id"], hist["event_type"], hist["sequence"], hist["kafka_partition"], hist["kafka_offset"]) == (
        JOB, "JobSubmitted", 1, 2, 41)
    assert hist["correlation_id"] == "req-9" and hist["actor"] == "api_key:tf_x"
    assert orjson.loads(hist["data"])["job_id"] == str(JOB)


def test_a_whole_life_updates_one_row() -> None:
    lease = uuid.uuid4()
    later = [AT + timedelta(seconds=s) for s in range(6)]
    records = [
        record(submitted(status=JobStatus.PENDING, scheduled_for=None), 1, at=later[0]),
        record(JobLeased(job_id=JOB, lease_id=lease, worker_id=WORKER, attempt=1, deadline=later[5]), 2, at=later[1]),
        record(JobAttemptFailed(job_id=JOB, lease_id=lease, worker_id=WORKER, attempt=1, reason="error",
                                error_message="boom"), 3, at=later[2]),
        record(JobRetryScheduled(job_id=JOB, retry_at=later[4], delay_seconds=2), 4, at=later[2]),
    ]
    tables, changed = rows_for(records, {})
    row = changed[JOB]
    assert len(tables["jobs"]) == 1, "one row per job per batch: its newest state"
    assert len(tables["job_events"]) == 4
    assert (row["status"], row["attempt_count"], row["error_message"], row["version"]) == ("scheduled", 1, "boom", 4)
    assert row["scheduled_for"] == later[4] and row["started_at"] == later[1] and row["worker_id"] == WORKER

    lease2 = uuid.uuid4()
    done = [
        record(JobLeased(job_id=JOB, lease_id=lease2, worker_id=WORKER, attempt=2, deadline=later[5]), 6, at=later[4]),
        record(JobSucceeded(job_id=JOB, lease_id=lease2, worker_id=WORKER, attempt=2, output={"ok": True},
                            duration_ms=15), 7, at=later[5]),
    ]
    _, changed = rows_for(done, {JOB: row})
    final = changed[JOB]
    assert (final["status"], final["attempt_count"], final["duration_ms"]) == ("succeeded", 2, 15)
    assert orjson.loads(final["output"]) == {"ok": True} and final["error_message"] is None
    assert final["completed_at"] == later[5] and final["created_at"] == later[0]


def test_a_changed_job_takes_its_stored_row_back_and_writes_its_new_one() -> None:
    stored = job_row_after(None, record(submitted(status=JobStatus.PENDING, scheduled_for=None), 1))
    assert stored is not None
    lease = uuid.uuid4()
    tables, changed = rows_for([
        record(JobLeased(job_id=JOB, lease_id=lease, worker_id=WORKER, attempt=1, deadline=AT), 2),
        record(JobSucceeded(job_id=JOB, lease_id=lease, worker_id=WORKER, attempt=1, output=None, duration_ms=3), 3),
    ], {JOB: stored})
    cancel, new = (dict(zip(COLUMNS["jobs"], row, strict=True)) for row in tables["jobs"])
    assert cancel.pop("sign") == -1 and cancel == stored, "the cancel row is the stored row, unchanged"
    assert new.pop("sign") == 1 and new == changed[JOB] and new["status"] == "succeeded" and new["version"] == 3
    counts: dict[str, int] = {}
    for row in tables["jobs"]:
        status = row[COLUMNS["jobs"].index("status")]
        counts[status] = counts.get(status, 0) + row[-1]
    assert counts == {"pending": -1, "succeeded": 1}, "summed with the stored +1, pending drops to 0"


def test_a_worker_state_becomes_a_worker_row_versioned_by_its_offset() -> None:
    worker = WorkerState(worker_id=WORKER, name="w1", worker_type="gpu", queue_ids=[uuid.uuid4()], job_types=["t"],
                         max_concurrent_jobs=4, heartbeat_interval_seconds=30, metadata={"zone": "a"},
                         status="draining", registered_at=AT, last_heartbeat_at=AT + timedelta(seconds=30))
    tables, changed = rows_for([record(WorkerStateChanged(change="draining", worker=worker), 1, offset=77,
                                       aggregate_id=WORKER)], {})
    (row,) = (dict(zip(COLUMNS["workers"], r, strict=True)) for r in tables["workers"])
    assert changed == {} and set(tables) == {"workers"}
    assert (row["id"], row["name"], row["worker_type"], row["status"], row["version"]) == (
        WORKER, "w1", "gpu", "draining", 77)
    assert row["queue_ids"] == worker.queue_ids and orjson.loads(row["metadata"]) == {"zone": "a"}
    assert row["last_heartbeat_at"] == AT + timedelta(seconds=30) and row["organization_id"] == TENANT.organization_id


def test_a_repeated_event_changes_nothing() -> None:
    row = job_row_after(None, record(submitted(status=JobStatus.PENDING), 1))
    cancelled = job_row_after(row, record(JobCancelled(job_id=JOB), 2))
    assert cancelled is not None and cancelled["status"] == "cancelled" and cancelled["completed_at"] == AT
    assert job_row_after(cancelled, record(JobCancelled(job_id=JOB), 2, offset=99)) is None, "same sequence again"
    assert job_row_after(row, record(submitted(), 1)) is None, "a repeated submission"


def test_a_rejected_report_is_history_only() -> None:
    row = job_row_after(None, record(submitted(), 1))
    rejected = record(JobReportRejected(job_id=JOB, lease_id=uuid.uuid4(), report="complete", reason="superseded"), 2)
    assert job_row_after(row, rejected) is None
    tables, changed = rows_for([rejected], {JOB: row})
    assert "jobs" not in tables and "jobs_by_time" not in tables and changed == {}
    assert len(tables["job_events"]) == 1


def test_an_archived_job_keeps_its_row_as_it_ended_and_the_history_records_it() -> None:
    row = job_row_after(None, record(submitted(status=JobStatus.PENDING), 1))
    cancelled = job_row_after(row, record(JobCancelled(job_id=JOB), 2))
    archived = record(JobArchived(job_id=JOB, status=JobStatus.CANCELLED), 3)
    assert job_row_after(cancelled, archived) is None
    tables, changed = rows_for([archived], {JOB: cancelled})
    assert "jobs" not in tables and "jobs_by_id" not in tables and changed == {}
    assert [r[4] for r in tables["job_events"]] == ["JobArchived"]
    # so the projector does not look the row up for it (it would be long gone from its cache)
    assert not may_change_job_row(archived) and may_change_job_row(record(JobCancelled(job_id=JOB), 2))


def test_the_time_ordered_copy_gets_each_changed_jobs_new_row_alone() -> None:
    stored = job_row_after(None, record(submitted(status=JobStatus.PENDING, scheduled_for=None), 1))
    assert stored is not None
    tables, changed = rows_for([record(JobCancelled(job_id=JOB), 2)], {JOB: stored})
    (copy,) = tables["jobs_by_time"]
    assert dict(zip(COLUMNS["jobs_by_time"], copy, strict=True)) == changed[JOB], "no cancel row: it replaces by version"


def test_restated_jobs_write_their_stored_row_to_the_time_ordered_copy_even_unchanged() -> None:
    other = uuid.uuid4()
    stored = job_row_after(None, record(submitted(status=JobStatus.PENDING, scheduled_for=None), 1))
    other_stored = job_row_after(None, record(submitted(job_id=other), 1, aggregate_id=other))
    assert stored is not None and other_stored is not None
    repeat = record(submitted(status=JobStatus.PENDING, scheduled_for=None), 1)  # already applied: no change
    cancel_other = record(JobCancelled(job_id=other), 2, aggregate_id=other)
    tables, changed = rows_for([repeat, cancel_other], {JOB: stored, other: other_stored}, restated={JOB, other})
    assert set(changed) == {other}
    assert len(tables["jobs"]) == 2, "only the changed job is cancelled and rewritten in the collapsing table"
    copies = {row[COLUMNS["jobs_by_time"].index("id")]: dict(zip(COLUMNS["jobs_by_time"], row, strict=True))
              for row in tables["jobs_by_time"]}
    assert len(tables["jobs_by_time"]) == 2
    assert copies == {JOB: stored, other: changed[other]}, "the unchanged job's stored row, the changed job's new row"
    untouched, _ = rows_for([repeat], {JOB: stored})
    assert "jobs_by_time" not in untouched, "without restating, an unchanged job writes nothing"


def test_queue_created_becomes_a_queue_row() -> None:
    queue_id = uuid.uuid4()
    event = QueueCreated(queue_id=queue_id, name="emails", priority=1, settings=QueueSettings(max_concurrent_jobs=2))
    tables, _ = rows_for([record(event, 1, offset=3, aggregate_id=queue_id)], {})
    row = dict(zip(COLUMNS["queues"], tables["queues"][0], strict=True))
    assert (row["id"], row["name"], row["is_active"], row["deleted"], row["version"]) == (queue_id, "emails", True, False, 3)
    assert orjson.loads(row["settings"])["max_concurrent_jobs"] == 2


def test_later_queue_events_keep_the_creation_time_and_a_deletion_marks_the_row() -> None:
    queue_id = uuid.uuid4()
    created = AT - timedelta(days=2)
    paused = QueuePaused(queue_id=queue_id, name="emails", priority=1, settings=QueueSettings(), is_active=False,
                         created_at=created)
    deleted = QueueDeleted(queue_id=queue_id, name="emails")
    tables, _ = rows_for([record(paused, 2, offset=5, aggregate_id=queue_id),
                          record(deleted, 3, offset=6, aggregate_id=queue_id)], {})
    rows = [dict(zip(COLUMNS["queues"], r, strict=True)) for r in tables["queues"]]
    assert (rows[0]["is_active"], rows[0]["created_at"], rows[0]["updated_at"], rows[0]["deleted"]) == (
        False, created, AT, False)
    assert (rows[1]["deleted"], rows[1]["name"], rows[1]["version"]) == (True, "emails", 6)


def test_the_same_records_give_the_same_rows() -> None:
    batch = [record(submitted(), 1)]
    assert rows_for(batch, {}) == rows_for(batch, {})


def test_stored_collapsing_rows_give_each_jobs_current_row_merged_or_not() -> None:
    other = uuid.uuid4()
    v1 = {"id": JOB, "version": 1, "status": "pending"}
    v3 = {"id": JOB, "version": 3, "status": "succeeded"}
    unmerged = [{**v1, "sign": 1}, {**v1, "sign": -1}, {**v3, "sign": 1}, {"id": other, "version": 1, "status": "x", "sign": 1}]
    assert live_job_rows(unmerged) == {JOB: v3, other: {"id": other, "version": 1, "status": "x"}}
    assert live_job_rows([{**v3, "sign": 1}]) == {JOB: v3}, "after a merge removed the cancelled pair"
    assert live_job_rows([{**v3, "sign": 1}, {**v1, "sign": 1}, {**v1, "sign": -1}]) == {JOB: v3}, "any order"
    assert live_job_rows([{**v1, "sign": 1}, {**v1, "sign": -1}]) == {}, "a cancelled version alone is no row"
    assert live_job_rows([]) == {}


def test_collapsing_the_rows_a_batch_wrote_gives_its_changed_rows() -> None:
    stored = job_row_after(None, record(submitted(status=JobStatus.PENDING, scheduled_for=None), 1))
    assert stored is not None
    tables, changed = rows_for([record(JobCancelled(job_id=JOB), 2)], {JOB: stored})
    written = [{**stored, "sign": 1}] + [dict(zip(COLUMNS["jobs"], row, strict=True)) for row in tables["jobs"]]
    assert live_job_rows(written) == changed


def test_the_key_value_copy_holds_each_changed_jobs_new_row_as_one_document() -> None:
    stored = job_row_after(None, record(submitted(status=JobStatus.PENDING, scheduled_for=None), 1))
    assert stored is not None
    tables, changed = rows_for([record(JobCancelled(job_id=JOB), 2)], {JOB: stored})
    (kv,) = tables["jobs_by_id"]
    entry = dict(zip(COLUMNS["jobs_by_id"], kv, strict=True))
    assert (entry["id"], entry["organization_id"], entry["project_id"], entry["version"]) == (
        JOB, TENANT.organization_id, TENANT.project_id, 2)
    doc = job_from_doc(entry["doc"])
    assert doc == orjson.loads(orjson.dumps(changed[JOB])), "every column of the new row, nothing else"
    assert doc["status"] == "cancelled" and doc["completed_at"] == AT.isoformat()
    restated, _ = rows_for([record(submitted(status=JobStatus.PENDING, scheduled_for=None), 1)], {JOB: stored},
                           restated={JOB})
    assert [job_from_doc(r[-1]) for r in restated["jobs_by_id"]] == [orjson.loads(orjson.dumps(stored))], \
        "a restated job's stored row is written again under its key"


def test_outcome_events_become_outcome_rows_with_their_processing_time() -> None:
    queue = uuid.uuid4()
    stored = job_row_after(None, record(submitted(queue_id=queue, status=JobStatus.PENDING, scheduled_for=None), 1))
    assert stored is not None
    lease, began = uuid.uuid4(), AT + timedelta(seconds=1)
    leased = record(JobLeased(job_id=JOB, lease_id=lease, worker_id=WORKER, attempt=1, deadline=AT + timedelta(hours=1),
                              leased_at=began), 2, at=began)
    unreported = record(JobSucceeded(job_id=JOB, lease_id=lease, worker_id=WORKER, attempt=1, started_at=began),
                        3, at=began + timedelta(milliseconds=1500))
    tables, _ = rows_for([leased, unreported], {JOB: stored})
    (row,) = (dict(zip(COLUMNS["job_outcomes"], r, strict=True)) for r in tables["job_outcomes"])
    assert (row["queue_id"], row["job_id"], row["outcome"], row["event_id"]) == (
        queue, JOB, "succeeded", unreported.envelope.event_id)
    assert row["occurred_at"] == began + timedelta(milliseconds=1500)
    assert row["took_ms"] == 1500.0, "lease to completion when the worker reported no duration"

    reported = record(JobSucceeded(job_id=JOB, lease_id=lease, worker_id=WORKER, attempt=1, duration_ms=40,
                                   started_at=began), 3)
    (with_duration,) = rows_for([reported], {JOB: stored})[0]["job_outcomes"]
    assert with_duration[-1] == 40.0, "the worker's own duration wins"
    legacy = record(JobSucceeded(job_id=JOB, lease_id=lease, worker_id=WORKER, attempt=1), 3)
    assert rows_for([legacy], {JOB: stored})[0]["job_outcomes"][0][-1] is None, "no duration and no lease time"

    failed = record(JobFailed(job_id=JOB, attempts=1), 3)
    assert [r[-2:] for r in rows_for([failed], {JOB: stored})[0]["job_outcomes"]] == [("failed", None)]
    assert "job_outcomes" not in rows_for([leased], {JOB: stored})[0], "a lease is no outcome"


def test_an_outcome_already_applied_is_written_again_the_same() -> None:
    """A crash may land the jobs insert and lose the outcomes insert; the re-read must restore it."""
    stored = job_row_after(None, record(submitted(status=JobStatus.PENDING, scheduled_for=None), 1))
    assert stored is not None
    lease = uuid.uuid4()
    done = record(JobSucceeded(job_id=JOB, lease_id=lease, worker_id=WORKER, attempt=1, duration_ms=9), 2)
    first, changed = rows_for([done], {JOB: stored})
    again, unchanged = rows_for([done], {JOB: changed[JOB]})
    assert unchanged == {} and "jobs" not in again
    assert again["job_outcomes"] == first["job_outcomes"]
