"""What every aggregate owner shares: derived event ids, refusal kinds, and the memory of
recent verdicts that lets a redelivered command be answered exactly as the first time.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from schemas.commands import Refusal
from schemas.ids import derived_id
from taskforge.errors import Conflict, InvalidInput, NotFound, TaskForgeError

RECENT_COMMANDS = 32


@dataclass(frozen=True)
class AppliedCommand:
    """The verdict on a command that changed the aggregate, so that a redelivery is answered as the first time.

    A dataclass (pydantic validates it as a field of the queue owner's model): the job owner makes one per
    decision."""

    command_id: uuid.UUID
    refusal: Refusal | None = None
    message: str | None = None
    created: bool = False


def remembered(recent: tuple[AppliedCommand, ...], record: AppliedCommand) -> tuple[AppliedCommand, ...]:
    """The last ``RECENT_COMMANDS`` verdicts. Not only the last one: a crash can leave the table holding the
    state after a later command of the same uncommitted batch, and an earlier one is then redelivered too."""
    return (*recent[-(RECENT_COMMANDS - 1):], record)


def find_applied(recent: tuple[AppliedCommand, ...], command_id: uuid.UUID) -> AppliedCommand | None:
    return next((c for c in recent if c.command_id == command_id), None)


def event_id_for(command_id: uuid.UUID, index: int) -> uuid.UUID:
    return derived_id(command_id, f"event-{index}")


def fault_message(owner: str, command_type: str, exc: BaseException) -> str:
    """A refusal's message when an owner's rules failed on a command (a bug, logged with its traceback by the
    owner): what failed, not how, since the caller sees it."""
    return f"the {owner} failed to decide {command_type} ({type(exc).__name__}); nothing changed"


def refusal_kind(error: TaskForgeError) -> Refusal:
    if isinstance(error, NotFound):
        return "not_found"
    if isinstance(error, InvalidInput):
        return "invalid"
    if isinstance(error, Conflict):
        return "conflict"
    raise TypeError(f"no reply kind for {type(error).__name__}")
