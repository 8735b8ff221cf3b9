"""The job aggregate's rules, with no I/O: given a history, when a command, then a decision."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.envelope import DomainEvent
from schemas.job import (
    TERMINAL_STATUSES, ArchiveJob, CancelJob, CompleteJob, ExpireLease, ExtendLease, FailJob, JobArchived,
    JobAttemptFailed, JobBecameReady,
    JobCancelled, JobCommand, JobDeadLettered, JobFailed, JobLeased, JobLeaseExtended, JobPolicy, JobReportRejected,
    JobRetried, JobRetryScheduled, JobStatus, JobSubmitted, JobSucceeded, LeaseJob, PromoteJob, RetryJob, SubmitJob,
)
from streams.deciders.job import (
    MAX_SCHEDULE_AHEAD, TRANSITIONS, Decision, IllegalTransition, JobAlreadyExists, JobNotCancellable, JobNotFound,
    JobNotLeasable, JobNotRetryable, JobState, LeaseNotLive, ScheduledTooFarAhead, backoff_delay, dead_letter_job_id,
    dead_letter_submission, decide, default_max_attempts, evolve, initial_status, replay,
)

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
JOB = uuid.UUID("00000000-0000-4000-8000-000000000001")
WORKER = uuid.UUID("00000000-0000-4000-8000-0000000000aa")
POLICY = JobPolicy(timeout_seconds=60, retry_delay_seconds=10, max_retry_delay_seconds=100, backoff_multiplier=3.0)


def submit(**overrides: Any) -> SubmitJob:
    values: dict[str, Any] = dict(job_id=JOB, queue_id=uuid.uuid4(), queue_name="q", job_type="t", payload={"a": 1},
                                  priority=3, max_attempts=3, queue_max_retries=3, policy=POLICY)
    values.update(overrides)
    return SubmitJob(**values)


class History:
    """Given/when/then over one job: decisions are applied to the state as the owner would."""

    def __init__(self, *commands: JobCommand, at: datetime = NOW) -> None:
        self.state: JobState | None = None
        self.events: list[DomainEvent] = []
        for command in commands:
            self.when(command, at)

    def when(self, command: JobCommand, at: datetime = NOW) -> Decision:
        decision = decide(self.state, command, at)
        for event in decision.events:
            self.state = evolve(self.state, event)
            self.events.append(event)
        return decision

    @property
    def status(self) -> JobStatus:
        assert self.state is not None
        return self.state.status


def leased(lease_id: uuid.UUID | None = None, at: datetime = NOW, **submit_overrides: Any) -> tuple[History, uuid.UUID]:
    lease_id = lease_id or uuid.uuid4()
    history = History(submit(**submit_overrides), LeaseJob(job_id=JOB, lease_id=lease_id, worker_id=WORKER), at=at)
    return history, lease_id


def types(decision: Decision) -> list[type]:
    return [type(e) for e in decision.events]


# --- submission --------------------------------------------------------------------------------


def test_a_job_for_now_is_submitted_pending_with_its_queues_policy() -> None:
    decision = decide(None, submit(), NOW)
    (event,) = decision.events
    assert decision.accepted and isinstance(event, JobSubmitted)
    assert event.status is JobStatus.PENDING and event.policy == POLICY
    assert (event.job_id, event.priority, event.max_attempts, event.payload) == (JOB, 3, 3, {"a": 1})


def test_a_job_for_later_is_submitted_scheduled() -> None:
    (event,) = decide(None, submit(scheduled_for=NOW + timedelta(seconds=1)), NOW).events
    assert isinstance(event, JobSubmitted) and event.status is JobStatus.SCHEDULED


@pytest.mark.parametrize("offset", [timedelta(0), -timedelta(days=3)])
def test_a_job_whose_time_has_come_is_pending(offset: timedelta) -> None:
    assert initial_status(NOW + offset, NOW) is JobStatus.PENDING


@pytest.mark.parametrize(("retries", "attempts"), [(0, 1), (3, 4), (9, 10)])
def test_max_attempts_defaults_to_one_plus_the_queues_retries(retries: int, attempts: int) -> None:
    assert default_max_attempts(retries) == attempts
    (event,) = decide(None, submit(max_attempts=None, queue_max_retries=retries), NOW).events
    assert isinstance(event, JobSubmitted) and event.max_attempts == attempts


def test_scheduling_beyond_the_horizon_is_refused() -> None:
    assert decide(None, submit(scheduled_for=NOW + MAX_SCHEDULE_AHEAD), NOW).accepted
    decision = decide(None, submit(scheduled_for=NOW + MAX_SCHEDULE_AHEAD + timedelta(seconds=1)), NOW)
    assert isinstance(decision.refusal, ScheduledTooFarAhead) and decision.events == ()


def test_the_same_idempotency_key_again_keeps_the_original() -> None:
    history = History(submit(idempotency_key="k"))
    decision = history.when(submit(idempotency_key="k", payload={"different": True}))
    assert decision.accepted and decision.events == ()
    assert history.state is not None and history.state.payload == {"a": 1}


def test_a_second_submission_of_the_same_id_without_the_key_conflicts() -> None:
    history = History(submit(idempotency_key="k"))
    assert isinstance(history.when(submit(idempotency_key="other")).refusal, JobAlreadyExists)


def test_commands_for_an_unknown_job_are_not_found() -> None:
    for command in (CancelJob(job_id=JOB), RetryJob(job_id=JOB), PromoteJob(job_id=JOB),
                    CompleteJob(job_id=JOB, lease_id=uuid.uuid4())):
        assert isinstance(decide(None, command, NOW).refusal, JobNotFound)


# --- leasing -----------------------------------------------------------------------------------


def test_a_pending_job_is_leased_with_a_deadline_from_its_timeout() -> None:
    history, lease_id = leased()
    (event,) = history.events[1:]
    assert isinstance(event, JobLeased)
    assert (event.lease_id, event.worker_id, event.attempt) == (lease_id, WORKER, 1)
    assert event.deadline == NOW + timedelta(seconds=60)
    assert event.leased_at == NOW, "the attempt's start, for the processing time of its outcome"
    assert history.status is JobStatus.PROCESSING and history.state is not None and history.state.attempt_count == 1


def test_a_scheduled_job_cannot_be_leased_before_its_time() -> None:
    history = History(submit(scheduled_for=NOW + timedelta(hours=1)))
    decision = history.when(LeaseJob(job_id=JOB, lease_id=uuid.uuid4(), worker_id=WORKER))
    assert isinstance(decision.refusal, JobNotLeasable) and decision.events == ()


def test_a_leased_job_cannot_be_leased_again() -> None:
    history, lease_id = leased()
    second = history.when(LeaseJob(job_id=JOB, lease_id=uuid.uuid4(), worker_id=uuid.uuid4()))
    assert isinstance(second.refusal, JobNotLeasable)
    again = history.when(LeaseJob(job_id=JOB, lease_id=lease_id, worker_id=WORKER))
    assert again.accepted and again.events == (), "the same grant redelivered changes nothing"


# --- completion and reports ---------------------------------------------------------------------


def test_completing_with_the_live_lease_succeeds() -> None:
    history, lease_id = leased()
    decision = history.when(CompleteJob(job_id=JOB, lease_id=lease_id, output={"ok": 1}, duration_ms=12),
                            NOW + timedelta(seconds=5))
    (event,) = decision.events
    assert isinstance(event, JobSucceeded) and event.output == {"ok": 1} and event.duration_ms == 12
    assert event.worker_id == WORKER and event.attempt == 1
    assert event.started_at == NOW, "the success says when its attempt began (the lease's time)"
    assert history.status is JobStatus.SUCCEEDED and history.state is not None and history.state.lease is None


def test_a_repeated_completion_is_accepted_and_changes_nothing() -> None:
    history, lease_id = leased()
    history.when(CompleteJob(job_id=JOB, lease_id=lease_id))
    repeat = history.when(CompleteJob(job_id=JOB, lease_id=lease_id))
    assert repeat.accepted and repeat.events == ()


def test_a_report_with_a_superseded_lease_is_refused_and_recorded() -> None:
    history, _ = leased()
    stranger = uuid.uuid4()
    decision = history.when(CompleteJob(job_id=JOB, lease_id=stranger))
    assert isinstance(decision.refusal, LeaseNotLive)
    (event,) = decision.events
    assert isinstance(event, JobReportRejected)
    assert (event.lease_id, event.report, event.reason) == (stranger, "complete", "superseded")
    assert history.status is JobStatus.PROCESSING, "the live lease is untouched"


def test_a_report_after_the_deadline_is_refused_and_the_attempt_fails_by_timeout() -> None:
    history, lease_id = leased()
    late = NOW + timedelta(seconds=61)
    decision = history.when(CompleteJob(job_id=JOB, lease_id=lease_id), late)
    assert isinstance(decision.refusal, LeaseNotLive)
    assert types(decision) == [JobReportRejected, JobAttemptFailed, JobRetryScheduled]
    rejected, failed, retry = decision.events
    assert isinstance(rejected, JobReportRejected) and rejected.reason == "expired"
    assert isinstance(failed, JobAttemptFailed) and failed.reason == "timeout"
    assert isinstance(retry, JobRetryScheduled) and retry.retry_at == late + timedelta(seconds=10)
    assert history.status is JobStatus.SCHEDULED


def test_a_report_for_a_lease_that_already_expired_is_refused_as_expired() -> None:
    history, lease_id = leased()
    history.when(ExpireLease(job_id=JOB, lease_id=lease_id), NOW + timedelta(seconds=61))
    decision = history.when(FailJob(job_id=JOB, lease_id=lease_id, error_message="late"), NOW + timedelta(seconds=62))
    assert isinstance(decision.refusal, LeaseNotLive)
    assert [e.reason for e in decision.events if isinstance(e, JobReportRejected)] == ["expired"]


def test_a_report_for_a_job_never_leased_is_refused_as_not_leased() -> None:
    history = History(submit())
    decision = history.when(FailJob(job_id=JOB, lease_id=uuid.uuid4(), error_message="x"))
    assert isinstance(decision.refusal, LeaseNotLive)
    assert [e.reason for e in decision.events if isinstance(e, JobReportRejected)] == ["not_leased"]


def test_extending_moves_the_deadline_from_now() -> None:
    history, lease_id = leased()
    decision = history.when(ExtendLease(job_id=JOB, lease_id=lease_id, seconds=600), NOW + timedelta(seconds=30))
    (event,) = decision.events
    assert isinstance(event, JobLeaseExtended) and event.deadline == NOW + timedelta(seconds=630)
    assert history.when(ExpireLease(job_id=JOB, lease_id=lease_id), NOW + timedelta(seconds=61)).events == ()
    assert history.when(CompleteJob(job_id=JOB, lease_id=lease_id), NOW + timedelta(seconds=500)).accepted


# --- failures, retries, dead letters ------------------------------------------------------------


def test_a_retryable_failure_with_attempts_left_waits_out_the_backoff() -> None:
    history, lease_id = leased()
    decision = history.when(FailJob(job_id=JOB, lease_id=lease_id, error_message="boom", error_type="ValueError"))
    assert types(decision) == [JobAttemptFailed, JobRetryScheduled]
    failed, retry = decision.events
    assert isinstance(failed, JobAttemptFailed) and failed.error_message == "boom" and failed.reason == "error"
    assert isinstance(retry, JobRetryScheduled) and retry.delay_seconds == 10
    assert history.status is JobStatus.SCHEDULED and history.state is not None
    assert history.state.error_message == "boom"
    early = history.when(PromoteJob(job_id=JOB), NOW + timedelta(seconds=9))
    assert early.events == ()
    ready = history.when(PromoteJob(job_id=JOB), NOW + timedelta(seconds=10))
    assert types(ready) == [JobBecameReady] and history.status is JobStatus.PENDING


def test_backoff_grows_by_the_multiplier_per_attempt() -> None:
    history, lease_id = leased()
    delays = []
    at = NOW
    for attempt in (1, 2):
        decision = history.when(FailJob(job_id=JOB, lease_id=lease_id, error_message="x"), at)
        retry = decision.events[-1]
        assert isinstance(retry, JobRetryScheduled)
        delays.append(retry.delay_seconds)
        at = retry.retry_at
        history.when(PromoteJob(job_id=JOB), at)
        lease_id = uuid.uuid4()
        leased_decision = history.when(LeaseJob(job_id=JOB, lease_id=lease_id, worker_id=WORKER), at)
        assert isinstance(leased_decision.events[0], JobLeased) and leased_decision.events[0].attempt == attempt + 1
    assert delays == [10, 30]
    last = history.when(FailJob(job_id=JOB, lease_id=lease_id, error_message="x"), at)
    assert types(last) == [JobAttemptFailed, JobFailed], "the third of three attempts was the last"
    assert history.status is JobStatus.FAILED


def test_a_retry_delay_from_the_worker_overrides_the_backoff() -> None:
    history, lease_id = leased()
    decision = history.when(FailJob(job_id=JOB, lease_id=lease_id, error_message="rate limited", retry_delay_seconds=2.5))
    retry = decision.events[-1]
    assert isinstance(retry, JobRetryScheduled) and retry.delay_seconds == 2.5


def test_a_non_retryable_failure_ends_the_job_at_once() -> None:
    history, lease_id = leased()
    decision = history.when(FailJob(job_id=JOB, lease_id=lease_id, error_message="bad input", retryable=False))
    assert types(decision) == [JobAttemptFailed, JobFailed]
    assert history.status is JobStatus.FAILED


def test_the_last_failure_goes_to_the_dead_letter_queue_when_there_is_one() -> None:
    dlq = uuid.uuid4()
    history, lease_id = leased(max_attempts=1, policy=POLICY.model_copy(update={"dead_letter_queue_id": dlq}))
    decision = history.when(FailJob(job_id=JOB, lease_id=lease_id, error_message="x"))
    assert types(decision) == [JobAttemptFailed, JobDeadLettered]
    dead = decision.events[1]
    assert isinstance(dead, JobDeadLettered)
    assert dead.dead_letter_queue_id == dlq and dead.dead_letter_job_id == dead_letter_job_id(JOB, 1)
    assert history.status is JobStatus.DEAD_LETTERED
    assert history.state is not None
    copy = dead_letter_submission(history.state, dead)
    assert (copy.job_id, copy.queue_id, copy.dead_letter_of, copy.payload) == (dead.dead_letter_job_id, dlq, JOB, {"a": 1})
    first = decide(None, copy, NOW)
    assert first.accepted and isinstance(first.events[0], JobSubmitted)
    redelivered = decide(evolve(None, first.events[0]), copy, NOW)
    assert redelivered.accepted and redelivered.events == (), "a redelivered dead-lettering makes no second copy"


def test_a_dead_letter_copy_is_never_dead_lettered_again() -> None:
    dlq = uuid.uuid4()
    history, lease_id = leased(max_attempts=1, dead_letter_of=uuid.uuid4(),
                               policy=POLICY.model_copy(update={"dead_letter_queue_id": dlq}))
    decision = history.when(FailJob(job_id=JOB, lease_id=lease_id, error_message="x"))
    assert types(decision) == [JobAttemptFailed, JobFailed]


def test_a_lease_deadline_passing_is_a_failed_attempt() -> None:
    history, lease_id = leased()
    assert history.when(ExpireLease(job_id=JOB, lease_id=lease_id), NOW + timedelta(seconds=60)).events == ()
    decision = history.when(ExpireLease(job_id=JOB, lease_id=lease_id), NOW + timedelta(seconds=61))
    assert types(decision) == [JobAttemptFailed, JobRetryScheduled]
    failed = decision.events[0]
    assert isinstance(failed, JobAttemptFailed) and failed.reason == "timeout" and "expired" in failed.error_message
    assert history.when(ExpireLease(job_id=JOB, lease_id=lease_id), NOW + timedelta(seconds=99)).events == ()


def test_a_lost_worker_fails_the_attempt_before_the_deadline() -> None:
    history, lease_id = leased()
    decision = history.when(ExpireLease(job_id=JOB, lease_id=lease_id, reason="worker_lost"), NOW + timedelta(seconds=1))
    failed = decision.events[0]
    assert isinstance(failed, JobAttemptFailed) and failed.reason == "worker_lost"


# --- cancel and manual retry --------------------------------------------------------------------


@pytest.mark.parametrize("scheduled_for", [None, NOW + timedelta(hours=1)])
def test_pending_and_scheduled_jobs_can_be_cancelled(scheduled_for: datetime | None) -> None:
    history = History(submit(scheduled_for=scheduled_for))
    assert types(history.when(CancelJob(job_id=JOB))) == [JobCancelled]
    assert history.status is JobStatus.CANCELLED
    assert history.when(CancelJob(job_id=JOB)).events == (), "cancelling twice is harmless"


def test_a_processing_job_cannot_be_cancelled() -> None:
    history, _ = leased()
    decision = history.when(CancelJob(job_id=JOB))
    assert isinstance(decision.refusal, JobNotCancellable) and "processing" in str(decision.refusal)


def test_a_failed_job_can_be_retried_by_hand_and_starts_a_new_round() -> None:
    history, lease_id = leased(max_attempts=1)
    history.when(FailJob(job_id=JOB, lease_id=lease_id, error_message="x"))
    decision = history.when(RetryJob(job_id=JOB))
    (event,) = decision.events
    assert isinstance(event, JobRetried) and event.round == 2
    assert history.status is JobStatus.PENDING and history.state is not None and history.state.attempt_count == 0
    regrant = history.when(LeaseJob(job_id=JOB, lease_id=uuid.uuid4(), worker_id=WORKER))
    assert isinstance(regrant.events[0], JobLeased) and regrant.events[0].attempt == 1


@pytest.mark.parametrize("finish", ["complete", "cancel"])
def test_succeeded_and_cancelled_jobs_cannot_be_retried(finish: str) -> None:
    if finish == "complete":
        history, lease_id = leased()
        history.when(CompleteJob(job_id=JOB, lease_id=lease_id))
    else:
        history = History(submit(), CancelJob(job_id=JOB))
    assert isinstance(history.when(RetryJob(job_id=JOB)).refusal, JobNotRetryable)


# --- archiving (the owner letting go of an ended job, streams/retention.py) ---------------------------


def ended(how: str, **submit_overrides: Any) -> History:
    """A job that ended the way ``how`` says."""
    if how == "cancelled":
        return History(submit(**submit_overrides), CancelJob(job_id=JOB))
    policy = POLICY.model_copy(update={"dead_letter_queue_id": uuid.uuid4()}) if how == "dead_lettered" else POLICY
    history, lease_id = leased(max_attempts=1, policy=policy, **submit_overrides)
    if how == "succeeded":
        history.when(CompleteJob(job_id=JOB, lease_id=lease_id))
    else:
        history.when(FailJob(job_id=JOB, lease_id=lease_id, error_message="x"))
    return history


@pytest.mark.parametrize("how", ["succeeded", "cancelled", "failed", "dead_lettered"])
def test_an_ended_job_is_archived_and_its_owner_keeps_nothing(how: str) -> None:
    history = ended(how)
    assert history.status.value == how
    decision = history.when(ArchiveJob(job_id=JOB, round=1))
    assert decision.accepted and decision.events == (JobArchived(job_id=JOB, status=JobStatus(how)),)
    assert history.state is None and replay(history.events) is None
    # after it, the job is unknown to its owner: a report or a retry finds nothing, a second archive does nothing
    assert isinstance(history.when(RetryJob(job_id=JOB)).refusal, JobNotFound)
    assert isinstance(history.when(CompleteJob(job_id=JOB, lease_id=uuid.uuid4())).refusal, JobNotFound)
    again = history.when(ArchiveJob(job_id=JOB, round=1))
    assert again.accepted and again.events == ()


@pytest.mark.parametrize("status", ["pending", "scheduled", "processing"])
def test_a_job_that_has_not_ended_is_not_archived(status: str) -> None:
    if status == "processing":
        history, _ = leased()
    else:
        history = History(submit(scheduled_for=NOW + timedelta(hours=1) if status == "scheduled" else None))
    assert history.status.value == status
    decision = history.when(ArchiveJob(job_id=JOB, round=1))
    assert decision.accepted and decision.events == () and history.status.value == status


def test_a_job_submitted_with_an_idempotency_key_is_never_archived() -> None:
    history = ended("succeeded", idempotency_key="order-42")
    decision = history.when(ArchiveJob(job_id=JOB, round=1))
    assert decision.events == () and history.status is JobStatus.SUCCEEDED


def test_an_archive_meant_for_a_round_before_a_manual_retry_does_nothing() -> None:
    history = ended("failed")
    history.when(RetryJob(job_id=JOB))
    history.when(LeaseJob(job_id=JOB, lease_id=(second := uuid.uuid4()), worker_id=WORKER))
    history.when(FailJob(job_id=JOB, lease_id=second, error_message="again"))
    assert history.status is JobStatus.FAILED and history.state is not None and history.state.round == 2
    assert history.when(ArchiveJob(job_id=JOB, round=1)).events == ()
    assert history.when(ArchiveJob(job_id=JOB, round=2)).events == (JobArchived(job_id=JOB, status=JobStatus.FAILED),)


# --- the transition table -------------------------------------------------------------------------

SAMPLE_EVENTS: dict[str, DomainEvent] = {
    "JobBecameReady": JobBecameReady(job_id=JOB),
    "JobLeased": JobLeased(job_id=JOB, lease_id=uuid.uuid4(), worker_id=WORKER, attempt=1, deadline=NOW),
    "JobLeaseExtended": JobLeaseExtended(job_id=JOB, lease_id=uuid.uuid4(), deadline=NOW),
    "JobSucceeded": JobSucceeded(job_id=JOB, lease_id=uuid.uuid4(), worker_id=WORKER, attempt=1),
    "JobAttemptFailed": JobAttemptFailed(job_id=JOB, lease_id=uuid.uuid4(), worker_id=WORKER, attempt=1,
                                         reason="error", error_message="x"),
    "JobRetryScheduled": JobRetryScheduled(job_id=JOB, retry_at=NOW, delay_seconds=1),
    "JobFailed": JobFailed(job_id=JOB, attempts=1),
    "JobDeadLettered": JobDeadLettered(job_id=JOB, attempts=1, dead_letter_queue_id=uuid.uuid4(),
                                       dead_letter_job_id=uuid.uuid4()),
    "JobCancelled": JobCancelled(job_id=JOB),
    "JobRetried": JobRetried(job_id=JOB, round=2),
    "JobReportRejected": JobReportRejected(job_id=JOB, lease_id=uuid.uuid4(), report="complete", reason="superseded"),
    "JobArchived": JobArchived(job_id=JOB, status=JobStatus.SUCCEEDED),
}


def test_every_event_type_in_the_table_has_a_sample() -> None:
    assert set(SAMPLE_EVENTS) == set(TRANSITIONS)


@pytest.mark.parametrize("event_type", sorted(TRANSITIONS))
@pytest.mark.parametrize("status", list(JobStatus))
def test_the_table_is_what_evolve_enforces(event_type: str, status: JobStatus) -> None:
    base = History(submit()).state
    assert base is not None
    lease = {"lease": None}
    if status is JobStatus.PROCESSING:
        from streams.deciders.job import Lease

        lease = {"lease": Lease(lease_id=uuid.uuid4(), worker_id=WORKER, attempt=1, deadline=NOW)}
    state = replace(base, status=status, **lease)
    allowed, after = TRANSITIONS[event_type]
    if status in allowed:
        result = evolve(state, SAMPLE_EVENTS[event_type])
        if event_type == "JobArchived":
            assert result is None  # the owner keeps nothing of an archived job
        else:
            assert result is not None and result.status is (after or status)
    else:
        with pytest.raises(IllegalTransition):
            evolve(state, SAMPLE_EVENTS[event_type])


def test_a_job_cannot_be_submitted_twice_or_changed_before_it_exists() -> None:
    submitted = decide(None, submit(), NOW).events[0]
    with pytest.raises(IllegalTransition):
        evolve(evolve(None, submitted), submitted)
    with pytest.raises(IllegalTransition):
        evolve(None, JobCancelled(job_id=JOB))


# --- backoff arithmetic --------------------------------------------------------------------------


@pytest.mark.parametrize(("attempt", "expected"), [(1, 10), (2, 30), (3, 90), (4, 100), (9, 100)])
def test_backoff_is_delay_times_multiplier_to_the_attempt_minus_one_capped(attempt: int, expected: float) -> None:
    assert backoff_delay(attempt, POLICY) == expected


@given(
    delay=st.integers(0, 86_400), cap=st.integers(0, 7 * 86_400), multiplier=st.floats(1.0, 10.0),
    attempt=st.integers(1, 10),
)
def test_backoff_never_exceeds_its_cap_and_never_shrinks(delay: int, cap: int, multiplier: float, attempt: int) -> None:
    policy = JobPolicy(retry_delay_seconds=delay, max_retry_delay_seconds=max(cap, delay), backoff_multiplier=multiplier)
    value = backoff_delay(attempt, policy)
    assert 0 <= value <= policy.max_retry_delay_seconds
    assert value == min(delay * multiplier ** (attempt - 1), policy.max_retry_delay_seconds)
    if attempt > 1:
        assert backoff_delay(attempt - 1, policy) <= value


# --- properties over random lives of a job --------------------------------------------------------

STEP = st.tuples(
    st.sampled_from(["lease", "complete", "fail", "fail_final", "extend", "expire", "lost", "promote", "cancel",
                     "retry", "stale_complete", "archive"]),
    st.integers(0, 150),  # seconds the clock moves first
    st.booleans(),  # use the live lease (True) or another one
)


@settings(max_examples=400, deadline=None)
@given(steps=st.lists(STEP, max_size=40), max_attempts=st.integers(1, 4), dlq=st.booleans(),
       scheduled_in=st.one_of(st.none(), st.integers(1, 100)))
def test_random_lives_keep_every_invariant(steps: list[tuple[str, int, bool]], max_attempts: int, dlq: bool,
                                           scheduled_in: int | None) -> None:
    policy = POLICY.model_copy(update={"dead_letter_queue_id": uuid.uuid4() if dlq else None})
    at = NOW
    history = History(submit(max_attempts=max_attempts, policy=policy,
                             scheduled_for=NOW + timedelta(seconds=scheduled_in) if scheduled_in else None), at=at)
    ended_for_good = False
    for kind, advance, use_live in steps:
        at += timedelta(seconds=advance)
        state = history.state
        if state is None:  # archived: every later command finds no job and changes nothing
            decision = history.when(RetryJob(job_id=JOB) if kind == "retry" else ArchiveJob(job_id=JOB, round=1), at)
            assert decision.events == () and (kind != "retry" or isinstance(decision.refusal, JobNotFound))
            continue
        live = state.lease.lease_id if state.lease else None
        lease_id = live if use_live and live else uuid.uuid4()
        before = state.status
        command: JobCommand = {
            "lease": lambda: LeaseJob(job_id=JOB, lease_id=uuid.uuid4(), worker_id=uuid.uuid4()),
            "complete": lambda: CompleteJob(job_id=JOB, lease_id=lease_id),
            "stale_complete": lambda: CompleteJob(job_id=JOB, lease_id=uuid.uuid4()),
            "fail": lambda: FailJob(job_id=JOB, lease_id=lease_id, error_message="e"),
            "fail_final": lambda: FailJob(job_id=JOB, lease_id=lease_id, error_message="e", retryable=False),
            "extend": lambda: ExtendLease(job_id=JOB, lease_id=lease_id, seconds=30),
            "expire": lambda: ExpireLease(job_id=JOB, lease_id=lease_id),
            "lost": lambda: ExpireLease(job_id=JOB, lease_id=lease_id, reason="worker_lost"),
            "promote": lambda: PromoteJob(job_id=JOB),
            "cancel": lambda: CancelJob(job_id=JOB),
            "retry": lambda: RetryJob(job_id=JOB),
            "archive": lambda: ArchiveJob(job_id=JOB, round=state.round if use_live else state.round + 1),
        }[kind]()
        decision = history.when(command, at)
        after = history.state
        if after is None:  # only an ended job is archived, and only for its current round
            assert isinstance(command, ArchiveJob) and before in TERMINAL_STATUSES and command.round == state.round
            assert decision.events == (JobArchived(job_id=JOB, status=before),)
            continue
        if isinstance(command, ArchiveJob):
            assert decision.events == () and (before not in TERMINAL_STATUSES or command.round != state.round)

        # succeeded and cancelled are for good; failed and dead-lettered leave only by a manual retry
        if ended_for_good:
            assert after.status is before and decision.events == tuple(
                e for e in decision.events if isinstance(e, JobReportRejected))
        if after.status in (JobStatus.SUCCEEDED, JobStatus.CANCELLED):
            ended_for_good = True
        if before in (JobStatus.FAILED, JobStatus.DEAD_LETTERED) and after.status is not before:
            assert isinstance(command, RetryJob) and after.status is JobStatus.PENDING
        # attempts never exceed max_attempts within a round
        assert 0 <= after.attempt_count <= after.max_attempts
        # a lease exists exactly while processing: never two, never a processing job without one
        assert (after.lease is not None) == (after.status is JobStatus.PROCESSING)
        leases = [e for e in decision.events if isinstance(e, JobLeased)]
        assert len(leases) <= 1 and (not leases or before is JobStatus.PENDING)
        # a retry waits exactly the backoff of the attempt that failed
        for failed, retry in zip(decision.events, decision.events[1:], strict=False):
            if isinstance(failed, JobAttemptFailed) and isinstance(retry, JobRetryScheduled):
                expected = min(policy.retry_delay_seconds * policy.backoff_multiplier ** (failed.attempt - 1),
                               policy.max_retry_delay_seconds)
                assert retry.delay_seconds == expected
                assert failed.attempt < after.max_attempts
        # a refused command changes nothing but the record of the refusal (and an expiry it reveals)
        if decision.refusal is not None:
            assert all(isinstance(e, JobReportRejected | JobAttemptFailed | JobRetryScheduled | JobFailed
                                  | JobDeadLettered) for e in decision.events)
        assert after.status not in TERMINAL_STATUSES or after.lease is None
    # the events alone rebuild the state
    assert replay(history.events) == history.state
