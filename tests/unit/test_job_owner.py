"""The job owner's command handling, pure: decisions enveloped, numbered, deduplicated, answered."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from schemas.commands import CommandEnvelope
from schemas.envelope import Tenant
from schemas.job import (
    ArchiveJob, CancelJob, CompleteJob, FailJob, JobArchived, JobCancelled, JobCommand, JobDeadLettered, JobPolicy, JobReportRejected,
    JobStatus, JobSubmitted, LeaseJob, SubmitJob,
)
from streams.deciders.job import IllegalTransition
from streams.job_holding import OwnedJob
from streams.job_owner import Outcome, decide_or_refuse, handle_command
from streams.owning import event_id_for

TENANT = Tenant(organization_id=uuid.uuid4(), project_id=uuid.uuid4())
OTHER = Tenant(organization_id=uuid.uuid4(), project_id=uuid.uuid4())
T0 = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
JOB = uuid.uuid4()


def envelope(command: JobCommand, at: datetime = T0, tenant: Tenant = TENANT, **kw: Any) -> CommandEnvelope:
    return CommandEnvelope.of(command, tenant=tenant, issued_at=at, correlation_id="req-1", actor="api_key:tf_x", **kw)


def submit(**overrides: Any) -> SubmitJob:
    values: dict[str, Any] = dict(job_id=JOB, queue_id=uuid.uuid4(), queue_name="q", job_type="t", payload={"n": 1},
                                  priority=1, max_attempts=2, queue_max_retries=1)
    values.update(overrides)
    return SubmitJob(**values)


def run(owned: OwnedJob | None, *commands: CommandEnvelope) -> tuple[OwnedJob | None, list[Outcome]]:
    outcomes = []
    for command in commands:
        outcome = handle_command(owned, command)
        owned = outcome.owned
        outcomes.append(outcome)
    return owned, outcomes


def test_a_submission_creates_the_job_with_numbered_derived_events() -> None:
    command = envelope(submit())
    outcome = handle_command(None, command)
    (event,) = outcome.events
    assert isinstance(event.data, JobSubmitted)
    assert event.sequence == 1 and event.event_id == event_id_for(command.command_id, 0)
    assert event.causation_id == command.command_id and event.correlation_id == "req-1"
    assert event.aggregate_id == JOB and event.tenant == TENANT and event.occurred_at == T0
    assert outcome.reply.accepted and outcome.reply.created
    assert outcome.reply.job is not None and outcome.reply.job.status is JobStatus.PENDING
    assert outcome.owned is not None and outcome.owned.version == 1 and outcome.owned.created_at == T0


def test_a_redelivered_command_gets_the_same_answer_and_no_new_events() -> None:
    command = envelope(submit())
    owned, (first,) = run(None, command)
    again = handle_command(owned, command)
    assert again.events == [] and again.owned is owned
    assert again.reply == first.reply
    assert again.notices == first.notices, "the dispatcher hears again, in case the crash came before it had"


def test_the_same_idempotency_key_from_a_second_request_returns_the_original() -> None:
    owned, _ = run(None, envelope(submit(idempotency_key="k")))
    second = handle_command(owned, envelope(submit(idempotency_key="k", payload={"other": 2})))
    assert second.events == [] and second.reply.accepted and not second.reply.created
    assert second.reply.job is not None and second.reply.job.payload == {"n": 1}


def test_cancel_is_decided_and_numbered_after_the_submission() -> None:
    owned, (_, cancel) = run(None, envelope(submit()), envelope(CancelJob(job_id=JOB), T0 + timedelta(seconds=1)))
    (event,) = cancel.events
    assert isinstance(event.data, JobCancelled) and event.sequence == 2
    assert cancel.reply.job is not None and cancel.reply.job.status is JobStatus.CANCELLED
    assert owned is not None and owned.updated_at == T0 + timedelta(seconds=1)


def test_an_archived_job_leaves_nothing_to_hold_and_no_notice() -> None:
    owned, _ = run(None, envelope(submit()), envelope(CancelJob(job_id=JOB)))
    assert owned is not None
    archive = envelope(ArchiveJob(job_id=JOB, round=1), T0 + timedelta(days=1), wants_reply=False)
    outcome = handle_command(owned, archive)
    (event,) = outcome.events
    assert isinstance(event.data, JobArchived) and event.data.status is JobStatus.CANCELLED and event.sequence == 3
    assert outcome.archived and outcome.owned is None and outcome.notices == []
    # the same command redelivered once the entry is gone: nothing more
    again = handle_command(None, archive)
    assert again.events == [] and not again.archived and again.reply.accepted


def test_an_archive_that_changes_nothing_is_not_an_archival() -> None:
    owned, _ = run(None, envelope(submit()))
    outcome = handle_command(owned, envelope(ArchiveJob(job_id=JOB, round=1), wants_reply=False))
    assert outcome.events == [] and not outcome.archived and outcome.owned is owned


@pytest.mark.parametrize("other", [
    OTHER,
    Tenant(organization_id=TENANT.organization_id, project_id=uuid.uuid4()),  # another project of the same org
    Tenant(organization_id=uuid.uuid4(), project_id=TENANT.project_id),
], ids=["other-org", "other-project", "same-project-id-other-org"])
def test_another_tenants_job_is_not_found(other: Tenant) -> None:
    owned, _ = run(None, envelope(submit()))
    outcome = handle_command(owned, envelope(CancelJob(job_id=JOB), tenant=other))
    assert outcome.reply.refusal == "not_found" and outcome.events == [] and outcome.reply.job is None
    assert outcome.owned is owned


def test_a_command_for_an_unknown_job_is_not_found() -> None:
    outcome = handle_command(None, envelope(CancelJob(job_id=JOB)))
    assert outcome.reply.refusal == "not_found" and outcome.owned is None


def test_a_stale_report_is_refused_recorded_and_refused_again_when_redelivered() -> None:
    owned, _ = run(None, envelope(submit()),
                   envelope(LeaseJob(job_id=JOB, lease_id=uuid.uuid4(), worker_id=uuid.uuid4())))
    stale = envelope(CompleteJob(job_id=JOB, lease_id=uuid.uuid4()))
    first = handle_command(owned, stale)
    assert first.reply.refusal == "conflict" and [type(e.data) for e in first.events] == [JobReportRejected]
    again = handle_command(first.owned, stale)
    assert again.reply == first.reply and again.events == []


def test_dead_lettering_sends_a_linked_copy_to_the_dead_letter_queue() -> None:
    dlq = uuid.uuid4()
    lease_id = uuid.uuid4()
    owned, (_, _, fail) = run(
        None, envelope(submit(max_attempts=1, policy=JobPolicy(dead_letter_queue_id=dlq))),
        envelope(LeaseJob(job_id=JOB, lease_id=lease_id, worker_id=uuid.uuid4())),
        envelope(FailJob(job_id=JOB, lease_id=lease_id, error_message="boom")),
    )
    dead = [e.data for e in fail.events if isinstance(e.data, JobDeadLettered)]
    assert len(dead) == 1
    (copy,) = fail.follow_ups
    assert not copy.wants_reply and copy.tenant == TENANT
    assert isinstance(copy.data, SubmitJob) and copy.data.queue_id == dlq and copy.data.dead_letter_of == JOB
    assert copy.aggregate_id == dead[0].dead_letter_job_id
    created = handle_command(None, copy)
    assert created.reply.created and isinstance(created.events[0].data, JobSubmitted)
    assert created.events[0].data.dead_letter_of == JOB


def test_an_earlier_command_redelivered_after_a_later_one_was_saved_is_answered_as_before() -> None:
    """A crash can leave the table holding the state after the later of two commands of one batch."""
    lease_id = uuid.uuid4()
    submitted_owned, _ = run(None, envelope(submit()))
    lease = envelope(LeaseJob(job_id=JOB, lease_id=lease_id, worker_id=uuid.uuid4()))
    complete = envelope(CompleteJob(job_id=JOB, lease_id=lease_id))
    owned, (leased, completed) = run(submitted_owned, lease, complete)
    def verdict(outcome: Outcome) -> tuple[object, ...]:
        return outcome.reply.accepted, outcome.reply.refusal, outcome.reply.created

    again = handle_command(owned, lease)
    assert again.events == [] and verdict(again) == verdict(leased), "not decided anew against the newer state"
    assert again.reply.job is not None and again.reply.job.status == "succeeded", "the snapshot shows the job now"
    assert verdict(handle_command(owned, complete)) == verdict(completed)


def corrupted_held_job() -> tuple[OwnedJob, uuid.UUID]:
    """A holding no run of the rules produces: succeeded, yet still leased. Completing that lease makes the
    rules emit a success the transition table forbids, i.e. the kind of bug the fault boundary is for."""
    lease_id = uuid.uuid4()
    owned, _ = run(None, envelope(submit()), envelope(LeaseJob(job_id=JOB, lease_id=lease_id, worker_id=uuid.uuid4())))
    assert owned is not None
    broken = replace(owned, state=replace(owned.state, status=JobStatus.SUCCEEDED))
    return broken, lease_id


def test_a_command_the_rules_fail_on_is_refused_as_internal_and_changes_nothing(caplog: Any) -> None:
    owned, lease_id = corrupted_held_job()
    command = envelope(CompleteJob(job_id=JOB, lease_id=lease_id))
    try:
        handle_command(owned, command)
    except IllegalTransition:
        pass
    else:
        raise AssertionError("the corrupted holding no longer makes the rules fail: the test needs another fault")

    outcome = decide_or_refuse(owned, command)

    assert outcome.owned is owned and outcome.events == [] and outcome.follow_ups == []
    assert not outcome.reply.accepted and outcome.reply.refusal == "internal"
    assert outcome.reply.command_id == command.command_id and "IllegalTransition" in (outcome.reply.message or "")
    assert [n.job_id for n in outcome.notices] == [JOB]  # the dispatcher still hears where the job stands
    (record,) = [r for r in caplog.records if r.name == "streams.job_owner"]
    assert record.exc_info is not None and str(command.command_id) in record.getMessage()


def test_the_fault_boundary_passes_decisions_through_unchanged() -> None:
    command = envelope(submit())
    assert decide_or_refuse(None, command) == handle_command(None, command)


def test_a_holding_too_broken_for_a_notice_is_still_refused_as_internal() -> None:
    # a state with no fields at all: neither the rules nor a notice can run
    broken = OwnedJob(state=object(), tenant=TENANT, version=1, created_at=T0, updated_at=T0)  # type: ignore[arg-type]
    command = envelope(CancelJob(job_id=JOB))
    outcome = decide_or_refuse(broken, command)
    assert outcome.reply.refusal == "internal" and outcome.events == [] and outcome.notices == []
    assert outcome.owned is broken
