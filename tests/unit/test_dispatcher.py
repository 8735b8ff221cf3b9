"""Which ready job goes to which worker: priority, FIFO, concurrency, pause, job types, stale notices."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta

from schemas.dispatch import JobStatusNotice, LeaseRequested, QueueNotice
from schemas.job import JobStatus
from streams.dispatcher import QueueDispatch, dispatch_seq

QUEUE = uuid.uuid4()
ORG, PROJECT = uuid.uuid4(), uuid.uuid4()
T0 = datetime(2026, 8, 1, tzinfo=UTC)
W1, W2 = uuid.uuid4(), uuid.uuid4()


def notice(job_id: uuid.UUID, status: JobStatus, priority: int = 0, version: int = 1, job_type: str = "t",
           worker_id: uuid.UUID | None = None) -> JobStatusNotice:
    return JobStatusNotice(queue_id=QUEUE, job_id=job_id, organization_id=ORG, project_id=PROJECT, status=status,
                           priority=priority, job_type=job_type, worker_id=worker_id, version=version)


def request(worker: uuid.UUID = W1, max_jobs: int = 10, job_types: list[str] | None = None,
            wait: float = 0) -> LeaseRequested:
    return LeaseRequested(queue_id=QUEUE, request_id=uuid.uuid4(), organization_id=ORG, project_id=PROJECT,
                          worker_id=worker, job_types=job_types or [], max_jobs=max_jobs,
                          wait_until=T0 + timedelta(seconds=wait), issued_at=T0)


def ready(dispatch: QueueDispatch, *priorities: int) -> list[uuid.UUID]:
    ids = []
    for seq, priority in enumerate(priorities, start=len(dispatch.jobs)):
        job_id = uuid.uuid4()
        dispatch.on_status(notice(job_id, JobStatus.PENDING, priority), seq)
        ids.append(job_id)
    return ids


def test_higher_priority_first_then_first_come_first_served() -> None:
    dispatch = QueueDispatch(QUEUE)
    low1, high1, low2, high2 = ready(dispatch, 1, 9, 1, 9)
    offered = [j.job_id for j in dispatch.offer(request(max_jobs=4))]
    assert offered == [high1, high2, low1, low2]


def test_an_offered_job_is_not_offered_again() -> None:
    dispatch = QueueDispatch(QUEUE)
    (job,) = ready(dispatch, 0)
    assert [j.job_id for j in dispatch.offer(request(W1))] == [job]
    assert dispatch.offer(request(W2)) == []
    assert dispatch.jobs[job].worker_id == W1


def test_the_queue_concurrency_limit_counts_running_jobs() -> None:
    dispatch = QueueDispatch(QUEUE)
    dispatch.on_queue(QueueNotice(queue_id=QUEUE, is_active=True, max_concurrent_jobs=2))
    jobs = ready(dispatch, 0, 0, 0)
    assert len(dispatch.offer(request(max_jobs=10))) == 2
    assert dispatch.offer(request()) == [], "two running already"
    dispatch.on_status(notice(jobs[0], JobStatus.SUCCEEDED, version=3), 10)
    assert [j.job_id for j in dispatch.offer(request())] == [jobs[2]], "a finished job frees its slot"


def test_a_paused_queue_offers_nothing() -> None:
    dispatch = QueueDispatch(QUEUE)
    ready(dispatch, 0)
    dispatch.on_queue(QueueNotice(queue_id=QUEUE, is_active=False, max_concurrent_jobs=10))
    assert dispatch.offer(request()) == []
    dispatch.on_queue(QueueNotice(queue_id=QUEUE, is_active=True, max_concurrent_jobs=10))
    assert len(dispatch.offer(request())) == 1


def test_job_types_filter_without_losing_the_others() -> None:
    dispatch = QueueDispatch(QUEUE)
    email, sms = uuid.uuid4(), uuid.uuid4()
    dispatch.on_status(notice(email, JobStatus.PENDING, job_type="email"), 1)
    dispatch.on_status(notice(sms, JobStatus.PENDING, job_type="sms"), 2)
    assert [j.job_id for j in dispatch.offer(request(job_types=["sms"]))] == [sms]
    assert [j.job_id for j in dispatch.offer(request(job_types=["email"]))] == [email]


def test_notices_settle_offers_and_older_notices_are_ignored() -> None:
    dispatch = QueueDispatch(QUEUE)
    (job,) = ready(dispatch, 0)
    dispatch.offer(request(W1))
    dispatch.on_status(notice(job, JobStatus.PROCESSING, version=2, worker_id=W1), 5)
    dispatch.on_status(notice(job, JobStatus.PENDING, version=1), 6)  # a late, older notice
    assert dispatch.jobs[job].worker_id == W1 and dispatch.running == 1
    dispatch.on_status(notice(job, JobStatus.SCHEDULED, version=4), 7)  # failed attempt, waiting out its backoff
    assert dispatch.jobs[job].scheduled and dispatch.running == 0
    assert dispatch.offer(request(W2)) == [], "a scheduled job is live but not ready"
    dispatch.on_status(notice(job, JobStatus.PENDING, version=5), 8)
    assert [j.job_id for j in dispatch.offer(request(W2))] == [job]


def test_a_refused_offer_is_released_by_the_owners_notice() -> None:
    dispatch = QueueDispatch(QUEUE)
    (job,) = ready(dispatch, 0)
    dispatch.offer(request())
    dispatch.on_status(notice(job, JobStatus.CANCELLED, version=2), 3)
    assert dispatch.running == 0 and dispatch.jobs == {}


def test_parked_requests_get_new_work_or_their_empty_answer_in_time() -> None:
    dispatch = QueueDispatch(QUEUE)
    early, late = request(W1, wait=5), request(W2, wait=30)
    assert dispatch.offer(early) == []
    dispatch.park(early)
    dispatch.park(late)
    (job,) = ready(dispatch, 0)
    served = dispatch.serve_waiting(T0 + timedelta(seconds=1))
    assert [(r.request_id, [j.job_id for j in jobs]) for r, jobs in served] == [(early.request_id, [job])]
    assert list(dispatch.waiting) == [late]
    expired = dispatch.serve_waiting(T0 + timedelta(seconds=31))
    assert [(r.request_id, jobs) for r, jobs in expired] == [(late.request_id, [])]


def test_the_next_deadline_is_the_earliest_parked_request_s_and_none_without_one() -> None:
    dispatch = QueueDispatch(QUEUE)
    assert dispatch.next_deadline() is None
    late, early = request(W1, wait=30), request(W2, wait=5)
    dispatch.park(late)
    dispatch.park(early)
    assert dispatch.next_deadline() == early.wait_until
    dispatch.serve_waiting(early.wait_until)  # its time is up: answered empty, no longer parked
    assert dispatch.next_deadline() == late.wait_until


def test_an_immediate_request_is_served_by_the_next_tick() -> None:
    dispatch = QueueDispatch(QUEUE)
    (job,) = ready(dispatch, 0)
    now_request = request(wait=0)
    dispatch.park(now_request)
    ((served, offers),) = dispatch.serve_waiting(T0 + timedelta(milliseconds=5))
    assert served == now_request and [j.job_id for j in offers] == [job]


def test_the_running_count_follows_offers_notices_and_restores() -> None:
    dispatch = QueueDispatch(QUEUE)
    a, b = ready(dispatch, 0, 0)
    dispatch.offer(request(max_jobs=1))
    assert dispatch.running == 1
    dispatch.on_status(notice(a, JobStatus.PROCESSING, version=2, worker_id=W1), 5)
    assert dispatch.running == 1, "the confirming notice does not count the job twice"
    dispatch.on_status(notice(a, JobStatus.PENDING, version=3), 6)  # back for a retry
    assert dispatch.running == 0
    restored = QueueDispatch(QUEUE)
    for job in dispatch.jobs.values():
        restored.restore(job)
    restored.restore(dataclasses.replace(dispatch.jobs[b], worker_id=W2))
    assert restored.running == 1


def test_live_counts_cover_pending_scheduled_and_processing() -> None:
    dispatch = QueueDispatch(QUEUE)
    waiting, later, running, done = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    dispatch.on_status(notice(waiting, JobStatus.PENDING), 1)
    dispatch.on_status(notice(later, JobStatus.SCHEDULED), 2)
    dispatch.on_status(notice(running, JobStatus.PENDING), 3)
    dispatch.on_status(notice(running, JobStatus.PROCESSING, version=2, worker_id=W1), 4)
    dispatch.on_status(notice(done, JobStatus.PENDING), 5)
    dispatch.on_status(notice(done, JobStatus.SUCCEEDED, version=3), 6)
    assert dispatch.live_counts() == (1, 1, 1)


def test_a_deleted_queue_offers_nothing_and_cancels_what_is_not_running() -> None:
    dispatch = QueueDispatch(QUEUE)
    waiting, later, running = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    dispatch.on_status(notice(waiting, JobStatus.PENDING), 1)
    dispatch.on_status(notice(later, JobStatus.SCHEDULED), 2)
    dispatch.on_status(notice(running, JobStatus.PROCESSING, version=2, worker_id=W1), 3)
    assert dispatch.to_cancel() == [], "a live queue cancels nothing"
    dispatch.on_queue(QueueNotice(queue_id=QUEUE, is_active=False, max_concurrent_jobs=10, deleted=True))
    assert {j.job_id for j in dispatch.to_cancel()} == {waiting, later}
    assert dispatch.offer(request()) == []


def test_notices_of_one_pack_keep_their_order_and_come_before_the_next_records() -> None:
    largest_pack = 256 * 1024 // 2  # a pack of 256 KiB holds fewer messages than this (each is over 2 bytes)
    assert dispatch_seq(7, 0) < dispatch_seq(7, 1) < dispatch_seq(7, largest_pack) < dispatch_seq(8, 0)
