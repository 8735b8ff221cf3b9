"""The queue catalogue's and the identity owner's fault boundaries: a command their rules fail on is refused as
``internal``, changes nothing, and the commands around it are decided as usual. (The job owner's:
``tests/unit/test_job_owner.py``.)"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from schemas.commands import CommandEnvelope
from schemas.envelope import Tenant
from schemas.identity import EnsureBootstrap, IdentityCommandEnvelope, RegisterOrganization
from schemas.job import CancelJob
from schemas.queue import CreateQueue, QueueSettings
from streams.deciders.identity import Registry
from streams.identity_owner import handle_identity_commands
from streams.queue_owner import decide_queue_or_refuse, handle_queue_command

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
TENANT = Tenant(organization_id=uuid.uuid4(), project_id=uuid.uuid4())


def test_a_job_command_on_the_queue_owners_topic_is_refused_as_internal(caplog: Any) -> None:
    created = handle_queue_command(None, CommandEnvelope.of(
        CreateQueue(project_id=TENANT.project_id, queue_id=uuid.uuid4(), name="q", priority=0, settings=QueueSettings()),
        tenant=TENANT, issued_at=NOW))
    misrouted = CommandEnvelope.of(CancelJob(job_id=uuid.uuid4()), tenant=TENANT, issued_at=NOW)

    assert created.held is not None
    outcome = decide_queue_or_refuse(created.held.model_dump_json().encode(), misrouted)

    assert outcome.held == created.held and outcome.events == []
    assert not outcome.reply.accepted and outcome.reply.refusal == "internal"
    assert outcome.reply.command_id == misrouted.command_id and "CancelJob" in (outcome.reply.message or "")
    (record,) = [r for r in caplog.records if r.name == "streams.queue_owner"]
    assert record.exc_info is not None and str(misrouted.command_id) in record.getMessage()


def test_an_unreadable_catalogue_entry_refuses_its_projects_commands_as_internal(caplog: Any) -> None:
    command = CommandEnvelope.of(
        CreateQueue(project_id=TENANT.project_id, queue_id=uuid.uuid4(), name="q", priority=0, settings=QueueSettings()),
        tenant=TENANT, issued_at=NOW)

    outcome = decide_queue_or_refuse(b'{"not": "a catalogue"}', command)

    assert outcome.held is None and outcome.events == []
    assert not outcome.reply.accepted and outcome.reply.refusal == "internal"
    (record,) = [r for r in caplog.records if r.name == "streams.queue_owner"]
    assert record.exc_info is not None


def envelope(command: Any) -> IdentityCommandEnvelope:
    return IdentityCommandEnvelope(command_id=uuid.uuid4(), issued_at=NOW, correlation_id="req", data=command)


def test_a_command_the_identity_rules_fail_on_is_refused_and_the_batch_goes_on(caplog: Any) -> None:
    registry = Registry()
    org, project = uuid.uuid4(), uuid.uuid4()
    bootstrap = EnsureBootstrap(organization_id=org, project_id=project, key_id=uuid.uuid4(), key_prefix="tf_x",
                                key_hash="h1")
    first = handle_identity_commands(registry, [envelope(bootstrap)])
    assert first.replies[0].accepted
    # a registry no run of the rules leaves: a key hash that points at no key
    registry.key_by_hash["h2"] = uuid.uuid4()
    keys_before = dict(registry.api_keys)
    failing = envelope(bootstrap.model_copy(update={"key_hash": "h2", "key_id": uuid.uuid4()}))
    after = envelope(RegisterOrganization(organization_id=uuid.uuid4(), organization_name="Acme",
                                          user_id=uuid.uuid4(), email="ada@example.com", password_hash="$argon2id$x",
                                          project_id=uuid.uuid4()))

    outcome = handle_identity_commands(registry, [failing, after])

    refused, registered = outcome.replies
    assert not refused.accepted and refused.refusal == "internal" and refused.command_id == failing.command_id
    assert registered.accepted, "the command after the failing one is decided as usual"
    assert all(e.causation_id == after.command_id for e in outcome.events), "the failing command added no events"
    assert registry.api_keys == keys_before
    (record,) = [r for r in caplog.records if r.name == "streams.identity_owner"]
    assert record.exc_info is not None and str(failing.command_id) in record.getMessage()
