"""The queue catalogue's owner: the only writer of queue events, one per project.

``handle_queue_command`` is pure, like ``streams.job_owner.handle_command``: given what the
owner holds for a project and a command, it returns the new holding, the events to append
(keyed by queue id, numbered per queue, ids derived from the command) and the reply. The
faust agent appends the events, then writes the table, then replies.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict

from schemas.commands import CommandEnvelope, CommandReply
from schemas.envelope import EventEnvelope, Tenant, wrap
from schemas.queue import CreateQueue, QueueCommand, QueueRecord
from streams.deciders.queue import QueueCatalog, QueueDecision, decide, evolve
from streams.owning import AppliedCommand, event_id_for, fault_message, find_applied, refusal_kind, remembered
from taskforge.errors import NotFound

log = logging.getLogger(__name__)


class HeldCatalog(BaseModel):
    """What the owner's table holds per project."""

    model_config = ConfigDict(frozen=True)

    catalog: QueueCatalog
    tenant: Tenant
    recent_commands: tuple[AppliedCommand, ...] = ()


@dataclass(frozen=True)
class QueueOutcome:
    held: HeldCatalog | None
    events: list[EventEnvelope]
    reply: CommandReply


def _reply(command: CommandEnvelope, held: HeldCatalog | None, applied: AppliedCommand) -> CommandReply:
    queue: QueueRecord | None = None
    if held is not None and applied.refusal in (None, "conflict"):
        queue = held.catalog.queues.get(command.data.queue_id)  # type: ignore[union-attr]
    return CommandReply(command_id=command.command_id, accepted=applied.refusal is None, refusal=applied.refusal,
                        message=applied.message, created=applied.created, queue=queue)


def handle_queue_command(held: HeldCatalog | None, command: CommandEnvelope) -> QueueOutcome:
    data = command.data
    assert isinstance(data, QueueCommand)
    if held is not None and held.tenant != command.tenant:
        decision = QueueDecision(refusal=NotFound(f"queue {data.queue_id} not found"))  # same as no such queue
    else:
        applied = find_applied(held.recent_commands, command.command_id) if held is not None else None
        if applied is not None:  # redelivered after a crash: the first answer again, nothing new
            return QueueOutcome(held, [], _reply(command, held, applied))
        decision = decide(held.catalog if held is not None else None, data, command.issued_at)

    catalog = held.catalog if held is not None else None
    envelopes = []
    for index, event in enumerate(decision.events):
        before = catalog.queues.get(data.queue_id) if catalog is not None else None
        catalog = evolve(catalog, data.project_id, event, command.issued_at)
        envelopes.append(wrap(
            event, tenant=command.tenant, aggregate_id=data.queue_id, occurred_at=command.issued_at,
            event_id=event_id_for(command.command_id, index), correlation_id=command.correlation_id,
            causation_id=command.command_id, actor=command.actor, sequence=(before.version if before else 0) + 1,
        ))

    refusal = decision.refusal
    applied = AppliedCommand(command_id=command.command_id, refusal=refusal_kind(refusal) if refusal else None,
                             message=refusal.message if refusal else None,
                             created=isinstance(data, CreateQueue) and bool(envelopes))
    new_held = held
    if catalog is not None and envelopes:
        new_held = HeldCatalog(catalog=catalog, tenant=command.tenant,
                               recent_commands=remembered(held.recent_commands if held else (), applied))
    reply = _reply(command, new_held, applied)
    if refusal is not None:
        reply = reply.model_copy(update={"details": refusal.details})
    return QueueOutcome(new_held, envelopes, reply)


def decide_queue_or_refuse(stored: bytes | None, command: CommandEnvelope) -> QueueOutcome:
    """The project's table entry read, and ``handle_queue_command`` applied, behind the fault boundary of
    ``streams.job_owner.decide_or_refuse``: a command the rules fail on (a bug, or a command on the wrong
    topic), or an entry this build cannot read, is refused as ``internal`` and changes nothing, instead of
    ending the process, which would fail on it again after every restart."""
    held: HeldCatalog | None = None
    try:
        held = HeldCatalog.model_validate_json(stored) if stored is not None else None
        return handle_queue_command(held, command)
    except Exception as exc:  # noqa: BLE001 - the fault boundary above: logged, answered, nothing changed
        log.exception("queue owner: %s %s (request %s) failed to decide; refused, the catalogue is unchanged",
                      command.command_type, command.command_id, command.correlation_id)
        return QueueOutcome(held, [], CommandReply(
            command_id=command.command_id, accepted=False, refusal="internal",
            message=fault_message("queue catalogue's owner", command.command_type, exc)))
