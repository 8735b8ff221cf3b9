"""The queue catalogue of one project, pure: which queues exist, under which names, with which settings.

One catalogue per project, one owner per catalogue: that is what makes a queue name unique
within its project even when two creates race, and what lets a rename, a dead-letter
reference or a delete be checked against every other queue of the project at once.

``decide(catalog, command, now)`` returns the events or a refusal; ``evolve`` applies an
event. Neither reads a clock or does I/O. Whether a queue still has live jobs is known to
its dispatcher, not here: the delete command carries the dispatcher's count, and the rule
that a queue with live jobs cannot be deleted is applied here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from schemas.envelope import DomainEvent
from schemas.queue import (
    CreateQueue, DeleteQueue, PauseQueue, QueueCommand, QueueCreated, QueueDeleted, QueuePaused, QueueResumed,
    QueueRecord, QueueSettings, QueueUpdated, ResumeQueue, UpdateQueue,
)
from taskforge.errors import Conflict, InvalidInput, NotFound, TaskForgeError, invalid_input

MAX_QUEUES_PER_PROJECT = 1_000


class QueueCatalog(BaseModel):
    """The live queues of a project (deleted ones are gone, and their names free)."""

    model_config = ConfigDict(frozen=True)

    project_id: uuid.UUID
    queues: dict[uuid.UUID, QueueRecord] = {}

    def named(self, name: str) -> QueueRecord | None:
        return next((q for q in self.queues.values() if q.name == name), None)

    def dead_letter_users(self, queue_id: uuid.UUID) -> list[str]:
        return sorted(q.name for q in self.queues.values()
                      if q.settings.dead_letter_queue_id == queue_id and q.queue_id != queue_id)


@dataclass(frozen=True)
class QueueDecision:
    events: list[DomainEvent] = field(default_factory=list)
    refusal: TaskForgeError | None = None


def _refuse(error: TaskForgeError) -> QueueDecision:
    return QueueDecision(refusal=error)


def _check_dead_letter(catalog: QueueCatalog, queue_id: uuid.UUID, settings: QueueSettings) -> TaskForgeError | None:
    dlq = settings.dead_letter_queue_id
    if dlq is None:
        return None
    if dlq == queue_id:
        return InvalidInput("a queue cannot be its own dead-letter queue", details={"field": "settings.dead_letter_queue_id"})
    if dlq not in catalog.queues:
        return InvalidInput(f"dead_letter_queue_id {dlq} is not a queue of this project",
                            details={"field": "settings.dead_letter_queue_id"})
    return None


def _name_taken(catalog: QueueCatalog, name: str, queue_id: uuid.UUID) -> TaskForgeError | None:
    holder = catalog.named(name)
    if holder is not None and holder.queue_id != queue_id:
        return Conflict(f"a queue named {name!r} already exists in this project", details={"field": "name"})
    return None


def _merged_settings(current: QueueSettings, changes: dict[str, Any]) -> QueueSettings | TaskForgeError:
    try:
        return QueueSettings.model_validate({**current.model_dump(), **changes})
    except ValidationError as exc:
        return invalid_input("settings", exc.errors(include_url=False), prefix="settings")


def _state_of(record: QueueRecord, **changes: Any) -> dict[str, Any]:
    base = {"queue_id": record.queue_id, "name": record.name, "description": record.description,
            "priority": record.priority, "settings": record.settings, "is_active": record.is_active,
            "created_at": record.created_at}
    return {**base, **changes}


def _create(catalog: QueueCatalog, command: CreateQueue) -> QueueDecision:
    if command.queue_id in catalog.queues:
        return _refuse(Conflict(f"queue {command.queue_id} already exists"))
    if len(catalog.queues) >= MAX_QUEUES_PER_PROJECT:
        return _refuse(Conflict(f"a project holds at most {MAX_QUEUES_PER_PROJECT} queues",
                                details={"limit": MAX_QUEUES_PER_PROJECT}))
    error = _name_taken(catalog, command.name, command.queue_id) or _check_dead_letter(
        catalog, command.queue_id, command.settings)
    if error is not None:
        return _refuse(error)
    return QueueDecision([QueueCreated(queue_id=command.queue_id, name=command.name, description=command.description,
                                       priority=command.priority, settings=command.settings)])


def _update(catalog: QueueCatalog, record: QueueRecord, command: UpdateQueue) -> QueueDecision:
    settings = _merged_settings(record.settings, command.settings)
    if isinstance(settings, TaskForgeError):
        return _refuse(settings)
    name = command.name if command.name is not None else record.name
    description = None if command.clear_description else (
        command.description if command.description is not None else record.description)
    error = _name_taken(catalog, name, record.queue_id) or _check_dead_letter(catalog, record.queue_id, settings)
    if error is not None:
        return _refuse(error)
    state = _state_of(record, name=name, description=description,
                      priority=command.priority if command.priority is not None else record.priority,
                      settings=settings, is_active=command.is_active if command.is_active is not None else record.is_active)
    if state == _state_of(record):
        return QueueDecision()  # nothing changes: accepted, nothing to record
    return QueueDecision([QueueUpdated(**state)])


def _delete(catalog: QueueCatalog, record: QueueRecord, command: DeleteQueue) -> QueueDecision:
    if command.live_jobs > 0:
        return _refuse(Conflict(f"queue {record.name!r} still has {command.live_jobs} pending, scheduled or "
                                "processing jobs; cancel them or let them finish first",
                                details={"live_jobs": command.live_jobs}))
    users = catalog.dead_letter_users(record.queue_id)
    if users:
        return _refuse(Conflict(f"queue {record.name!r} is the dead-letter queue of {', '.join(users)}",
                                details={"dead_letter_queue_of": users}))
    return QueueDecision([QueueDeleted(queue_id=record.queue_id, name=record.name)])


def decide(catalog: QueueCatalog | None, command: QueueCommand, now: datetime) -> QueueDecision:
    """The catalogue's verdict on one command. ``now`` is the command's time (not read here)."""
    catalog = catalog if catalog is not None else QueueCatalog(project_id=command.project_id)
    if isinstance(command, CreateQueue):
        return _create(catalog, command)
    record = catalog.queues.get(command.queue_id)
    if record is None:
        return _refuse(NotFound(f"queue {command.queue_id} not found"))
    if isinstance(command, UpdateQueue):
        return _update(catalog, record, command)
    if isinstance(command, PauseQueue):
        return QueueDecision([QueuePaused(**_state_of(record, is_active=False))] if record.is_active else [])
    if isinstance(command, ResumeQueue):
        return QueueDecision([] if record.is_active else [QueueResumed(**_state_of(record, is_active=True))])
    if isinstance(command, DeleteQueue):
        return _delete(catalog, record, command)
    raise TypeError(f"no rule for {type(command).__name__}")


def evolve(catalog: QueueCatalog | None, project_id: uuid.UUID, event: DomainEvent, at: datetime) -> QueueCatalog:
    """The catalogue after one event; ``at`` is the event's time (it becomes ``updated_at``)."""
    catalog = catalog if catalog is not None else QueueCatalog(project_id=project_id)
    queues = dict(catalog.queues)
    if isinstance(event, QueueDeleted):
        queues.pop(event.queue_id, None)
    elif isinstance(event, QueueCreated):
        previous = queues.get(event.queue_id)
        queues[event.queue_id] = QueueRecord(
            queue_id=event.queue_id, project_id=project_id, name=event.name, description=event.description,
            priority=event.priority, settings=event.settings, is_active=event.is_active,
            created_at=previous.created_at if previous is not None else at, updated_at=at,
            version=previous.version + 1 if previous is not None else 1,
        )
    else:
        raise TypeError(f"not a queue event: {type(event).__name__}")
    return catalog.model_copy(update={"queues": queues})
