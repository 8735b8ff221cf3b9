"""When an owner archives an ended job (streams/retention.py): the due times, their order, and the command."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from schemas.envelope import Tenant
from schemas.job import ArchiveJob, JobPolicy, JobStatus
from streams.deciders.job import JobState
from streams.job_holding import OwnedJob
from streams.retention import ArchiveSchedule, Retention, archive_command, due_for_archive

T0 = datetime(2026, 7, 1, tzinfo=UTC)
TENANT = Tenant(organization_id=uuid.uuid4(), project_id=uuid.uuid4())
RETENTION = Retention(ended=timedelta(hours=1), failed=timedelta(days=2))


def owned(status: JobStatus, at: datetime = T0, **state: object) -> OwnedJob:
    job = JobState(job_id=uuid.uuid4(), queue_id=uuid.uuid4(), job_type="t", payload={}, status=status, priority=0,
                   max_attempts=3, policy=JobPolicy(), **state)  # type: ignore[arg-type]
    return OwnedJob(state=job, tenant=TENANT, version=4, created_at=T0, updated_at=at)


def key(job: OwnedJob) -> bytes:
    return str(job.state.job_id).encode()


@pytest.mark.parametrize(("status", "after"), [
    (JobStatus.SUCCEEDED, timedelta(hours=1)), (JobStatus.CANCELLED, timedelta(hours=1)),
    (JobStatus.FAILED, timedelta(days=2)), (JobStatus.DEAD_LETTERED, timedelta(days=2)),
])
def test_an_ended_job_is_due_its_retention_after_its_last_event(status: JobStatus, after: timedelta) -> None:
    job = owned(status, at=T0 + timedelta(minutes=3))
    assert RETENTION.archive_at(job) == T0 + timedelta(minutes=3) + after
    assert not due_for_archive(job, RETENTION, T0 + timedelta(minutes=3) + after - timedelta(microseconds=1))
    assert due_for_archive(job, RETENTION, T0 + timedelta(minutes=3) + after)


@pytest.mark.parametrize("status", [JobStatus.PENDING, JobStatus.SCHEDULED, JobStatus.PROCESSING])
def test_a_job_that_has_not_ended_is_never_due(status: JobStatus) -> None:
    assert RETENTION.archive_at(owned(status)) is None
    assert not due_for_archive(owned(status), RETENTION, T0 + timedelta(days=400))


def test_a_job_with_an_idempotency_key_is_never_due() -> None:
    job = owned(JobStatus.SUCCEEDED, idempotency_key="k")
    assert RETENTION.archive_at(job) is None and not due_for_archive(job, RETENTION, T0 + timedelta(days=400))


def test_nothing_is_due_for_a_job_no_longer_held() -> None:
    assert not due_for_archive(None, RETENTION, T0)


def test_the_schedule_hands_out_each_retentions_due_keys_in_order() -> None:
    schedule = ArchiveSchedule(RETENTION)
    first = owned(JobStatus.SUCCEEDED, at=T0)
    failed = owned(JobStatus.FAILED, at=T0)
    second = owned(JobStatus.CANCELLED, at=T0 + timedelta(minutes=1))
    running = owned(JobStatus.PROCESSING)
    for job in (first, failed, second, running):
        schedule.note(key(job), job)
    assert len(schedule) == 3
    assert schedule.pop_due(T0 + timedelta(minutes=59)) == []
    assert schedule.pop_due(T0 + timedelta(hours=1)) == [key(first)]
    assert schedule.pop_due(T0 + timedelta(days=3)) == [key(second), key(failed)]
    assert len(schedule) == 0 and schedule.pop_due(T0 + timedelta(days=30)) == []


def test_the_schedule_hands_out_at_most_its_limit_at_once() -> None:
    schedule = ArchiveSchedule(RETENTION)
    jobs = [owned(JobStatus.SUCCEEDED, at=T0 + timedelta(seconds=i)) for i in range(5)]
    for job in jobs:
        schedule.note(key(job), job)
    later = T0 + timedelta(days=1)
    assert schedule.pop_due(later, limit=3) == [key(j) for j in jobs[:3]]
    assert schedule.pop_due(later, limit=3) == [key(j) for j in jobs[3:]]


def test_a_rebuilt_schedule_is_in_due_order_whatever_order_the_table_gave() -> None:
    schedule = ArchiveSchedule(RETENTION)
    schedule.note(b"stale", owned(JobStatus.SUCCEEDED))
    jobs = [owned(JobStatus.SUCCEEDED, at=T0 + timedelta(seconds=s)) for s in (30, 10, 20)]
    schedule.clear()
    for job in jobs:
        schedule.note(key(job), job)
    schedule.settle()
    assert schedule.pop_due(T0 + timedelta(hours=2)) == [key(jobs[1]), key(jobs[2]), key(jobs[0])]


def test_the_archive_command_names_the_round_and_has_an_id_derived_from_round_and_version() -> None:
    job = owned(JobStatus.FAILED, round=2)
    command = archive_command(job, T0 + timedelta(days=3))
    assert command.data == ArchiveJob(job_id=job.state.job_id, round=2)
    assert command.tenant == TENANT and not command.wants_reply and command.actor == "taskforge:retention"
    assert command.command_id == archive_command(job, T0 + timedelta(days=4)).command_id
    assert command.command_id != archive_command(replace(job, version=5), T0 + timedelta(days=3)).command_id
