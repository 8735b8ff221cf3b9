"""When a job next needs the clock, and what the timer then sends."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from schemas.envelope import Tenant
from schemas.job import ExpireLease, JobPolicy, JobStatus, PromoteJob
from streams.deciders.job import JobState, Lease
from streams.job_holding import OwnedJob
from streams.timers import Due, TimerHeap, command_for, next_due

T0 = datetime(2026, 7, 1, tzinfo=UTC)
TENANT = Tenant(organization_id=uuid.uuid4(), project_id=uuid.uuid4())


def owned(status: JobStatus, **state: object) -> OwnedJob:
    job = JobState(job_id=uuid.uuid4(), queue_id=uuid.uuid4(), job_type="t", payload={}, status=status, priority=0,
                   max_attempts=3, policy=JobPolicy(), **state)  # type: ignore[arg-type]
    return OwnedJob(state=job, tenant=TENANT, version=1, created_at=T0, updated_at=T0)


def with_state(job: OwnedJob, **changes: object) -> OwnedJob:
    return replace(job, state=replace(job.state, **changes))  # type: ignore[arg-type]


def test_a_scheduled_job_is_due_at_its_time_and_a_leased_one_at_its_deadline() -> None:
    scheduled = owned(JobStatus.SCHEDULED, scheduled_for=T0 + timedelta(minutes=5))
    assert next_due(scheduled) == Due(T0 + timedelta(minutes=5), scheduled.state.job_id, "promote")
    lease = Lease(lease_id=uuid.uuid4(), worker_id=uuid.uuid4(), attempt=1, deadline=T0 + timedelta(seconds=30))
    leased = owned(JobStatus.PROCESSING, lease=lease)
    due = next_due(leased)
    assert due is not None and (due.at, due.kind, due.lease_id) == (lease.deadline, "expire", lease.lease_id)


def test_other_states_need_no_timer() -> None:
    for status in (JobStatus.PENDING, JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED):
        assert next_due(owned(status)) is None


def test_the_heap_hands_out_what_is_due_in_time_order() -> None:
    heap = TimerHeap()
    jobs = [owned(JobStatus.SCHEDULED, scheduled_for=T0 + timedelta(seconds=s)) for s in (30, 10, 20)]
    for job in jobs:
        heap.note(job)
    heap.note(owned(JobStatus.PENDING))
    assert len(heap) == 3
    assert heap.pop_due(T0 + timedelta(seconds=5)) == []
    assert [d.at for d in heap.pop_due(T0 + timedelta(seconds=20))] == [T0 + timedelta(seconds=10),
                                                                        T0 + timedelta(seconds=20)]
    heap.rebuild(jobs[:1])
    assert [d.job_id for d in heap.pop_due(T0 + timedelta(hours=1))] == [jobs[0].state.job_id]


def test_timer_commands_have_derived_ids() -> None:
    job = owned(JobStatus.SCHEDULED, scheduled_for=T0)
    due = next_due(job)
    assert due is not None
    first, again = command_for(due, job, T0), command_for(due, job, T0 + timedelta(seconds=1))
    assert first.command_id == again.command_id and isinstance(first.data, PromoteJob)
    assert not first.wants_reply and first.tenant == TENANT and first.actor == "taskforge:timer"
    lease = Lease(lease_id=uuid.uuid4(), worker_id=uuid.uuid4(), attempt=1, deadline=T0)
    expiring = owned(JobStatus.PROCESSING, lease=lease)
    expire_due = next_due(expiring)
    assert expire_due is not None
    command = command_for(expire_due, expiring, T0)
    assert isinstance(command.data, ExpireLease) and command.data.lease_id == lease.lease_id


def test_only_a_jobs_current_timer_is_handed_out() -> None:
    heap = TimerHeap()
    first = Lease(lease_id=uuid.uuid4(), worker_id=uuid.uuid4(), attempt=1, deadline=T0 + timedelta(seconds=30))
    job = owned(JobStatus.PROCESSING, lease=first)
    heap.note(job)
    extended = with_state(job, lease=replace(first, deadline=T0 + timedelta(seconds=90)))
    heap.note(extended)
    assert len(heap) == 1 and heap.stale == 1
    assert heap.pop_due(T0 + timedelta(seconds=60)) == [], "the superseded deadline is not handed out"
    (due,) = heap.pop_due(T0 + timedelta(seconds=90))
    assert due.at == T0 + timedelta(seconds=90) and len(heap) == 0
    heap.note(extended)
    heap.note(with_state(job, status=JobStatus.SUCCEEDED, lease=None))
    assert heap.pop_due(T0 + timedelta(hours=1)) == [], "a finished job's deadline never fires"


def test_stale_entries_do_not_pile_up() -> None:
    heap = TimerHeap()
    for n in range(20_000):  # jobs leased and finished, as under steady load
        lease = Lease(lease_id=uuid.uuid4(), worker_id=uuid.uuid4(), attempt=1, deadline=T0 + timedelta(seconds=n))
        job = owned(JobStatus.PROCESSING, lease=lease)
        heap.note(job)
        heap.note(with_state(job, status=JobStatus.SUCCEEDED, lease=None))
    assert len(heap) == 0
    assert heap.stale <= 1_024 + 1


def test_a_lost_workers_leases_are_found_among_the_current_deadlines() -> None:
    heap = TimerHeap()
    lost, alive = uuid.uuid4(), uuid.uuid4()
    jobs = {}
    for worker in (lost, lost, alive):
        lease = Lease(lease_id=uuid.uuid4(), worker_id=worker, attempt=1, deadline=T0 + timedelta(seconds=30))
        job = owned(JobStatus.PROCESSING, lease=lease)
        jobs[job.state.job_id] = job
        heap.note(job)
    heap.note(owned(JobStatus.SCHEDULED, scheduled_for=T0))
    found = heap.leases_of({lost})
    assert sorted(d.job_id for d in found) == sorted(j for j, o in jobs.items() if o.state.lease.worker_id == lost)
    finished = next(o for o in jobs.values() if o.state.lease.worker_id == lost)
    heap.note(with_state(finished, status=JobStatus.SUCCEEDED, lease=None))
    assert [d.job_id for d in heap.leases_of({lost})] != [finished.state.job_id]
    assert len(heap.leases_of({lost})) == 1
