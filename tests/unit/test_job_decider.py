"""The job aggregate's rules, with no I/O: given a state and a command, then events."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.job import JobStatus, JobSubmitted, SubmitJob
from streams.deciders.job import (
    MAX_SCHEDULE_AHEAD, JobAlreadyExists, ScheduledTooFarAhead, decide, default_max_attempts, evolve, initial_status,
)

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def submit(**overrides: object) -> SubmitJob:
    values: dict[str, object] = dict(job_id=uuid.uuid4(), queue_id=uuid.uuid4(), queue_name="q", job_type="t",
                                     payload={"a": 1}, priority=3, max_attempts=2, queue_max_retries=3)
    values.update(overrides)
    return SubmitJob(**values)  # type: ignore[arg-type]


def test_a_job_for_now_is_submitted_pending() -> None:
    command = submit()
    (event,) = decide(None, command, NOW)
    assert isinstance(event, JobSubmitted)
    assert event.status is JobStatus.PENDING
    assert (event.job_id, event.priority, event.max_attempts, event.payload) == (command.job_id, 3, 2, {"a": 1})


def test_a_job_for_later_is_submitted_scheduled() -> None:
    (event,) = decide(None, submit(scheduled_for=NOW + timedelta(seconds=1)), NOW)
    assert isinstance(event, JobSubmitted) and event.status is JobStatus.SCHEDULED


@pytest.mark.parametrize("offset", [timedelta(0), -timedelta(days=3)])
def test_a_job_whose_time_has_come_is_pending(offset: timedelta) -> None:
    assert initial_status(NOW + offset, NOW) is JobStatus.PENDING


def test_submitting_an_existing_job_again_is_refused() -> None:
    command = submit()
    state = evolve(None, decide(None, command, NOW)[0])
    with pytest.raises(JobAlreadyExists):
        decide(state, command, NOW)


@pytest.mark.parametrize(("retries", "attempts"), [(0, 1), (3, 4), (9, 10)])
def test_max_attempts_defaults_to_one_plus_the_queues_retries(retries: int, attempts: int) -> None:
    assert default_max_attempts(retries) == attempts
    (event,) = decide(None, submit(max_attempts=None, queue_max_retries=retries), NOW)
    assert isinstance(event, JobSubmitted) and event.max_attempts == attempts


def test_an_explicit_max_attempts_wins_over_the_queue_default() -> None:
    (event,) = decide(None, submit(max_attempts=1, queue_max_retries=9), NOW)
    assert isinstance(event, JobSubmitted) and event.max_attempts == 1


def test_scheduling_beyond_the_horizon_is_refused() -> None:
    assert decide(None, submit(scheduled_for=NOW + MAX_SCHEDULE_AHEAD), NOW)
    with pytest.raises(ScheduledTooFarAhead):
        decide(None, submit(scheduled_for=NOW + MAX_SCHEDULE_AHEAD + timedelta(seconds=1)), NOW)


@given(
    priority=st.integers(0, 9),
    max_attempts=st.integers(1, 10),
    delay=st.one_of(st.none(), st.integers(-10**6, 10**6)),
)
def test_replaying_the_decided_events_rebuilds_what_was_submitted(priority: int, max_attempts: int, delay: int | None) -> None:
    scheduled_for = None if delay is None else NOW + timedelta(seconds=delay)
    command = submit(priority=priority, max_attempts=max_attempts, scheduled_for=scheduled_for)
    state = None
    for event in decide(None, command, NOW):
        state = evolve(state, event)
    assert state is not None
    assert (state.job_id, state.priority, state.max_attempts, state.attempt_count) == (command.job_id, priority, max_attempts, 0)
    expected = JobStatus.SCHEDULED if scheduled_for is not None and scheduled_for > NOW else JobStatus.PENDING
    assert state.status is expected
