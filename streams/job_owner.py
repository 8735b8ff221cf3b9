"""The job owner: the only writer of job events.

``handle_command`` is the whole of it, pure: given what the owner holds for a job and a
command, it returns the new holding, the events to append (enveloped, numbered, with ids
derived from the command), the reply, and any follow-up commands (a dead-letter copy).
The faust agent in ``streams.app`` only moves bytes: it appends the events, then writes
the table, then replies, so that a crash at any point redelivers the command and the
same decision is made again, with the same event ids and sequences.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field

from schemas.commands import CommandEnvelope, CommandReply
from schemas.dispatch import JobStatusNotice
from schemas.envelope import EventEnvelope, wrap
from schemas.ids import derived_id
from schemas.job import JobDeadLettered, LeaseJob, SubmitJob
from streams.deciders.job import Decision, JobNotFound, dead_letter_submission, decide, evolve
from streams.job_holding import OwnedJob
from streams.owning import AppliedCommand, event_id_for, fault_message, refusal_kind, remembered

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    owned: OwnedJob | None
    events: list[EventEnvelope]
    reply: CommandReply
    follow_ups: list[CommandEnvelope] = field(default_factory=list)
    notices: list[JobStatusNotice] = field(default_factory=list)
    archived: bool = False
    """The job was archived: its table entry is to be deleted (``owned`` is None)."""


@dataclass
class OwnerRound:
    """What one round of an owner's decisions (``streams.pipeline``) has to append and answer."""

    appended: list[EventEnvelope] = field(default_factory=list)
    follow_ups: list[CommandEnvelope] = field(default_factory=list)
    notices: list[JobStatusNotice] = field(default_factory=list)
    replies: list[CommandReply] = field(default_factory=list)
    changed: dict[bytes, OwnedJob | None] = field(default_factory=dict)
    """The holdings this round wrote, by table key; None for a job it archived."""


def _replayed(owned: OwnedJob, command: CommandEnvelope, applied: AppliedCommand) -> Outcome:
    """A command the owner already applied (redelivered after a crash): the same answer, nothing new."""
    reply = CommandReply(command_id=command.command_id, accepted=applied.refusal is None,
                         refusal=applied.refusal, message=applied.message, created=applied.created,
                         job=owned.snapshot() if applied.refusal in (None, "conflict") and command.reply_with_job
                         else None)
    # the notice again: if the crash came between the table write and the dispatcher hearing of it
    return Outcome(owned=owned, events=[], reply=reply, notices=[owned.notice()])


def handle_command(owned: OwnedJob | None, command: CommandEnvelope) -> Outcome:
    now = command.issued_at
    foreign = owned is not None and not command.is_of(owned.tenant)
    tenant = owned.tenant if owned is not None and not foreign else command.tenant
    applied = owned.applied(command.command_id) if owned is not None and not foreign else None
    if owned is not None and applied is not None:
        return _replayed(owned, command, applied)
    if foreign:
        # another tenant's job is answered exactly like a job that does not exist
        decision = Decision(refusal=JobNotFound(f"job {command.aggregate_id} not found"))
    else:
        decision = decide(owned.state if owned is not None else None, command.data, now)

    state = owned.state if owned is not None else None
    version = owned.version if owned is not None else 0
    envelopes = []
    for index, event in enumerate(decision.events):
        state = evolve(state, event)
        version += 1
        envelopes.append(wrap(
            event, tenant=tenant, aggregate_id=command.aggregate_id, occurred_at=now,
            event_id=event_id_for(command.command_id, index), correlation_id=command.correlation_id,
            causation_id=command.command_id, actor=command.actor, sequence=version,
        ))

    refusal = decision.refusal
    verdict = refusal_kind(refusal) if refusal is not None else None
    created = owned is None and state is not None and bool(envelopes)
    new_owned = owned
    if state is not None and envelopes:
        record = AppliedCommand(command_id=command.command_id, refusal=verdict,
                                message=refusal.message if refusal is not None else None, created=created)
        new_owned = OwnedJob(
            state=state, tenant=tenant, version=version,
            created_at=owned.created_at if owned is not None else now, updated_at=now,
            recent_commands=remembered(owned.recent_commands if owned is not None else (), record),
        )
    archived = owned is not None and state is None and bool(envelopes)
    if archived:
        new_owned = None  # nothing is kept: an ArchiveJob decided again finds no job and does nothing

    follow_ups = []
    for event in decision.events:
        if isinstance(event, JobDeadLettered) and state is not None:
            copy: SubmitJob = dead_letter_submission(state, event)
            follow_ups.append(CommandEnvelope.of(
                copy, tenant=tenant, issued_at=now, command_id=derived_id(command.command_id, "dead-letter"),
                correlation_id=command.correlation_id, actor="taskforge:dead-letter", wants_reply=False,
            ))

    reply = CommandReply(
        command_id=command.command_id,
        accepted=refusal is None,
        refusal=verdict,
        message=refusal.message if refusal is not None else None,
        details=refusal.details if refusal is not None else {},
        created=created,
        job=new_owned.snapshot() if new_owned is not None and verdict in (None, "conflict")
        and command.reply_with_job else None,
    )
    # the dispatcher hears of every change, and of every offer (a refused one frees its slot)
    notices = [new_owned.notice()] if new_owned is not None and (envelopes or isinstance(command.data, LeaseJob)) else []
    return Outcome(owned=new_owned, events=envelopes, reply=reply, follow_ups=follow_ups, notices=notices,
                   archived=archived)


def decide_or_refuse(owned: OwnedJob | None, command: CommandEnvelope) -> Outcome:
    """``handle_command`` behind a fault boundary, which is what the owner agent calls.

    An exception here is a bug (bad input is refused by the rules), but letting it out would end the
    agent's run: the commands of its unfinished rounds would then wait for the next rebalance, and every
    job on its partitions with them. Instead the command is refused as ``internal`` (the API answers 500),
    nothing about the job changes, and the fault is logged with its traceback and the command. A
    redelivery of the command faults the same way; the job's timers still run.
    """
    try:
        return handle_command(owned, command)
    except Exception as exc:  # noqa: BLE001 - the fault boundary above: logged, answered, nothing changed
        log.exception("owner: %s %s for job %s (request %s) failed to decide; refused, the job is unchanged",
                      command.command_type, command.command_id, command.aggregate_id, command.correlation_id)
        return refused_as_internal(owned, command, exc)


def refused_as_internal(owned: OwnedJob | None, command: CommandEnvelope, exc: BaseException) -> Outcome:
    """The answer to a command the owner could not decide (its rules failed, or the job's table entry cannot
    be read): refused as ``internal``, nothing changed. The caller logs the fault."""
    reply = CommandReply(command_id=command.command_id, accepted=False, refusal="internal",
                         message=fault_message(f"owner of job {command.aggregate_id}", command.command_type, exc))
    return Outcome(owned=owned, events=[], reply=reply, notices=_notice_if_whole(owned, command.aggregate_id))


def _notice_if_whole(owned: OwnedJob | None, job_id: uuid.UUID) -> list[JobStatusNotice]:
    """The dispatcher still hears where the job stands after a failed decision (a refused offer frees its
    slot), unless the holding is too broken to say: then the boundary must not fail in its turn."""
    if owned is None:
        return []
    try:
        return [owned.notice()]
    except Exception:  # noqa: BLE001 - logged; the refusal stands without a notice
        log.exception("owner: no notice for job %s either", job_id)
        return []
