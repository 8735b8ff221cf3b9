"""The queue catalogue's rules, and its owner's bookkeeping: pure, no I/O."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from schemas.commands import CommandEnvelope
from schemas.envelope import Tenant
from schemas.queue import (
    CreateQueue, DeleteQueue, PauseQueue, QueueDeleted, QueuePaused, QueueResumed, QueueSettings, QueueUpdated,
    ResumeQueue, UpdateQueue,
)
from streams.deciders.queue import MAX_QUEUES_PER_PROJECT, QueueCatalog, decide, evolve
from streams.queue_owner import handle_queue_command
from taskforge.errors import Conflict, InvalidInput, NotFound

PROJECT = uuid.uuid4()
TENANT = Tenant(organization_id=uuid.uuid4(), project_id=PROJECT)
T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def create(name: str, **kw: object) -> CreateQueue:
    return CreateQueue(project_id=PROJECT, queue_id=uuid.uuid4(), name=name, priority=0,
                       settings=kw.pop("settings", QueueSettings()), **kw)  # type: ignore[arg-type]


def catalog_with(*commands: CreateQueue) -> QueueCatalog:
    catalog: QueueCatalog | None = None
    for command in commands:
        decision = decide(catalog, command, T0)
        assert decision.refusal is None
        for event in decision.events:
            catalog = evolve(catalog, PROJECT, event, T0)
    assert catalog is not None
    return catalog


def apply(catalog: QueueCatalog, command: object, at: datetime = T0) -> QueueCatalog:
    decision = decide(catalog, command, at)  # type: ignore[arg-type]
    assert decision.refusal is None, decision.refusal
    for event in decision.events:
        catalog = evolve(catalog, PROJECT, event, at)
    return catalog


def test_names_are_unique_within_a_project() -> None:
    catalog = catalog_with(create("emails"))
    refusal = decide(catalog, create("emails"), T0).refusal
    assert isinstance(refusal, Conflict) and "emails" in refusal.message


def test_a_rename_takes_the_new_name_and_frees_the_old_one() -> None:
    emails = create("emails")
    catalog = catalog_with(emails, create("reports"))
    assert isinstance(decide(catalog, UpdateQueue(project_id=PROJECT, queue_id=emails.queue_id, name="reports"),
                             T0).refusal, Conflict)
    catalog = apply(catalog, UpdateQueue(project_id=PROJECT, queue_id=emails.queue_id, name="mail"))
    assert catalog.queues[emails.queue_id].name == "mail"
    assert decide(catalog, create("emails"), T0).refusal is None, "the old name is free again"


def test_settings_merge_key_by_key_and_are_validated_whole() -> None:
    q = create("q", settings=QueueSettings(max_concurrent_jobs=7, retry_delay_seconds=10))
    catalog = catalog_with(q)
    later = T0 + timedelta(minutes=1)
    catalog = apply(catalog, UpdateQueue(project_id=PROJECT, queue_id=q.queue_id, settings={"max_retries": 5}), later)
    record = catalog.queues[q.queue_id]
    assert record.settings.max_retries == 5 and record.settings.max_concurrent_jobs == 7
    assert record.settings.retry_delay_seconds == 10
    assert record.updated_at == later and record.created_at == T0 and record.version == 2
    refusal = decide(catalog, UpdateQueue(project_id=PROJECT, queue_id=q.queue_id,
                                          settings={"retry_delay_seconds": 600}), T0).refusal
    assert isinstance(refusal, InvalidInput), "the merged settings break max_retry_delay >= retry_delay"


def test_an_update_that_changes_nothing_records_nothing() -> None:
    q = create("q")
    catalog = catalog_with(q)
    decision = decide(catalog, UpdateQueue(project_id=PROJECT, queue_id=q.queue_id, name="q", settings={"max_retries": 3}), T0)
    assert decision.refusal is None and decision.events == []


def test_a_description_is_cleared_only_on_request() -> None:
    q = create("q", description="mail")
    catalog = catalog_with(q)
    assert apply(catalog, UpdateQueue(project_id=PROJECT, queue_id=q.queue_id, priority=3)).queues[
        q.queue_id].description == "mail"
    assert apply(catalog, UpdateQueue(project_id=PROJECT, queue_id=q.queue_id, clear_description=True)).queues[
        q.queue_id].description is None


def test_pause_and_resume_are_idempotent() -> None:
    q = create("q")
    catalog = catalog_with(q)
    pause = PauseQueue(project_id=PROJECT, queue_id=q.queue_id)
    (paused,) = decide(catalog, pause, T0).events
    assert isinstance(paused, QueuePaused) and paused.is_active is False and paused.created_at == T0
    catalog = apply(catalog, pause)
    assert decide(catalog, pause, T0).events == [], "pausing a paused queue changes nothing"
    (resumed,) = decide(catalog, ResumeQueue(project_id=PROJECT, queue_id=q.queue_id), T0).events
    assert isinstance(resumed, QueueResumed) and resumed.is_active


def test_dead_letter_queues_must_be_another_queue_of_the_project() -> None:
    dlq = create("dead")
    catalog = catalog_with(dlq)
    assert isinstance(decide(catalog, create("q", settings=QueueSettings(dead_letter_queue_id=uuid.uuid4())), T0).refusal,
                      InvalidInput)
    q = create("q", settings=QueueSettings(dead_letter_queue_id=dlq.queue_id))
    catalog = apply(catalog, q)
    self_ref = UpdateQueue(project_id=PROJECT, queue_id=q.queue_id, settings={"dead_letter_queue_id": q.queue_id})
    assert isinstance(decide(catalog, self_ref, T0).refusal, InvalidInput)
    refusal = decide(catalog, DeleteQueue(project_id=PROJECT, queue_id=dlq.queue_id, live_jobs=0), T0).refusal
    assert isinstance(refusal, Conflict) and refusal.details["dead_letter_queue_of"] == ["q"]
    catalog = apply(catalog, UpdateQueue(project_id=PROJECT, queue_id=q.queue_id, settings={"dead_letter_queue_id": None}))
    assert decide(catalog, DeleteQueue(project_id=PROJECT, queue_id=dlq.queue_id, live_jobs=0), T0).refusal is None


def test_a_queue_with_live_jobs_is_not_deleted() -> None:
    q = create("q")
    catalog = catalog_with(q)
    refusal = decide(catalog, DeleteQueue(project_id=PROJECT, queue_id=q.queue_id, live_jobs=2), T0).refusal
    assert isinstance(refusal, Conflict) and refusal.details == {"live_jobs": 2}
    (deleted,) = decide(catalog, DeleteQueue(project_id=PROJECT, queue_id=q.queue_id, live_jobs=0), T0).events
    assert isinstance(deleted, QueueDeleted)
    catalog = evolve(catalog, PROJECT, deleted, T0)
    assert q.queue_id not in catalog.queues
    assert isinstance(decide(catalog, PauseQueue(project_id=PROJECT, queue_id=q.queue_id), T0).refusal, NotFound)


def test_a_project_holds_a_bounded_number_of_queues() -> None:
    catalog = catalog_with(*(create(f"q{i}") for i in range(MAX_QUEUES_PER_PROJECT)))
    assert isinstance(decide(catalog, create("one-more"), T0).refusal, Conflict)


@pytest.mark.parametrize("command_type", [UpdateQueue, PauseQueue, ResumeQueue])
def test_unknown_queues_are_not_found(command_type: type) -> None:
    assert isinstance(decide(None, command_type(project_id=PROJECT, queue_id=uuid.uuid4()), T0).refusal, NotFound)


def envelope(command: object, tenant: Tenant = TENANT) -> CommandEnvelope:
    return CommandEnvelope.of(command, tenant=tenant, issued_at=T0)  # type: ignore[arg-type]


def test_the_owner_numbers_events_per_queue_and_replays_a_redelivered_command() -> None:
    q = create("q")
    first = handle_queue_command(None, envelope(q))
    assert first.reply.accepted and first.reply.created and first.reply.queue is not None
    assert [e.sequence for e in first.events] == [1] and first.events[0].aggregate_id == q.queue_id
    update = envelope(UpdateQueue(project_id=PROJECT, queue_id=q.queue_id, name="renamed"))
    second = handle_queue_command(first.held, update)
    assert [e.sequence for e in second.events] == [2] and isinstance(second.events[0].data, QueueUpdated)
    again = handle_queue_command(second.held, update)
    assert again.events == [] and again.reply.accepted and again.reply.queue.name == "renamed"  # type: ignore[union-attr]
    duplicate = handle_queue_command(second.held, envelope(create("renamed")))
    assert not duplicate.reply.accepted and duplicate.reply.refusal == "conflict" and duplicate.events == []


def test_another_tenants_catalogue_answers_not_found() -> None:
    q = create("q")
    held = handle_queue_command(None, envelope(q)).held
    intruder = Tenant(organization_id=uuid.uuid4(), project_id=PROJECT)
    outcome = handle_queue_command(held, envelope(PauseQueue(project_id=PROJECT, queue_id=q.queue_id), intruder))
    assert outcome.reply.refusal == "not_found" and outcome.events == [] and outcome.held is held
