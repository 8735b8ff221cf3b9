"""Commands to aggregate owners, and the owners' replies.

Job commands travel on ``<prefix>.job-commands`` keyed by job id, queue commands on
``<prefix>.queue-commands`` keyed by project id (one catalogue per project), so that the
owner of the aggregate's partition decides them; replies travel on
``<prefix>.job-replies`` keyed by command id, back to whoever waits for the verdict.
Commands are instructions, not history: they are versioned like events but kept only as
long as the topic's retention.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict, SerializeAsAny, ValidationError

from schemas.encoding import model_json
from schemas.packs import unpacked
from schemas.envelope import Tenant, UndecodableEvent
from schemas.job import (
    ArchiveJob, CancelJob, CompleteJob, ExpireLease, ExtendLease, FailJob, JobCommand, JobStatus, LeaseJob, PromoteJob,
    RetryJob, SubmitJob,
)
from schemas.queue import (
    CreateQueue, DeleteQueue, PauseQueue, QueueCommand, QueueRecord, ResumeQueue, UpdateQueue,
)

AnyCommand = JobCommand | QueueCommand
COMMAND_TYPES: dict[str, type[AnyCommand]] = {
    cls.__name__: cls
    for cls in (SubmitJob, LeaseJob, CompleteJob, FailJob, ExtendLease, ExpireLease, PromoteJob, CancelJob, RetryJob,
                ArchiveJob, CreateQueue, UpdateQueue, PauseQueue, ResumeQueue, DeleteQueue)
}


def owner_key_of(command: AnyCommand) -> uuid.UUID:
    """The id that picks the command's owner: the job, or the project whose queue catalogue decides."""
    return command.job_id if isinstance(command, JobCommand) else command.project_id
COMMAND_SCHEMA_VERSION = 1


class CommandEnvelope(BaseModel):
    model_config = ConfigDict(frozen=True)

    command_id: uuid.UUID
    command_type: str
    schema_version: int = COMMAND_SCHEMA_VERSION
    organization_id: uuid.UUID
    project_id: uuid.UUID
    aggregate_id: uuid.UUID
    issued_at: AwareDatetime
    """The decision's ``now``: a redelivered command is decided exactly as the first time."""
    correlation_id: str | None = None
    actor: str | None = None
    wants_reply: bool = True
    reply_with_job: bool = True
    """Whether the reply carries the job as decided; a worker's batch report needs only the verdict."""
    data: SerializeAsAny[AnyCommand]

    @classmethod
    def of(cls, command: AnyCommand, *, tenant: Tenant, issued_at: datetime, command_id: uuid.UUID | None = None,
           correlation_id: str | None = None, actor: str | None = None, wants_reply: bool = True,
           reply_with_job: bool = True) -> CommandEnvelope:
        return cls(command_id=command_id or uuid.uuid4(), command_type=type(command).__name__,
                   organization_id=tenant.organization_id, project_id=tenant.project_id,
                   aggregate_id=owner_key_of(command), issued_at=issued_at, correlation_id=correlation_id, actor=actor,
                   wants_reply=wants_reply, reply_with_job=reply_with_job, data=command)

    @property
    def tenant(self) -> Tenant:
        return Tenant(organization_id=self.organization_id, project_id=self.project_id)

    def is_of(self, tenant: Tenant) -> bool:
        """Whether ``tenant`` sent this command: compared by id, without building a ``Tenant`` per command."""
        return self.organization_id == tenant.organization_id and self.project_id == tenant.project_id

    @property
    def key(self) -> bytes:
        return str(self.aggregate_id).encode()

    def headers(self) -> list[tuple[str, bytes]]:
        return [("command_type", self.command_type.encode()), ("command_id", str(self.command_id).encode())]

    def encoded(self) -> bytes:
        return model_json(self)


def _command_from(doc: Any) -> CommandEnvelope:
    """Raises ``UndecodableEvent`` for anything that is not a command this build knows."""
    try:
        cls = COMMAND_TYPES[doc["command_type"]]
        if int(doc.get("schema_version", 1)) > COMMAND_SCHEMA_VERSION:
            raise UndecodableEvent(f"command {doc['command_type']} of a newer version")
        return CommandEnvelope.model_validate({**doc, "data": cls.model_validate(doc["data"])})
    except (KeyError, TypeError, ValueError, ValidationError) as exc:
        raise UndecodableEvent(f"not a command envelope: {exc}") from exc


def decode_commands(raw: bytes) -> list[CommandEnvelope | UndecodableEvent]:
    """The commands of a record (a pack, ``schemas.packs``, or one command), in order.

    An item this build cannot decode is returned as its error, in its place, so the owner
    can log it and go on with the others; a record that is not JSON at all is one error.
    """
    try:
        docs = unpacked(raw)
    except orjson.JSONDecodeError as exc:
        return [UndecodableEvent(f"not a command record: {exc}")]
    decoded: list[CommandEnvelope | UndecodableEvent] = []
    for doc in docs:
        try:
            decoded.append(_command_from(doc))
        except UndecodableEvent as exc:
            decoded.append(exc)
    return decoded


class JobSnapshot(BaseModel):
    """The job as its owner holds it after a decision, for the API's answer."""

    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    queue_id: uuid.UUID
    queue_name: str
    job_type: str
    payload: dict[str, Any]
    status: JobStatus
    priority: int
    max_attempts: int
    attempt_count: int
    scheduled_for: AwareDatetime | None = None
    idempotency_key: str | None = None
    error_message: str | None = None
    output: Any = None
    lease_id: uuid.UUID | None = None
    lease_deadline: AwareDatetime | None = None
    worker_id: uuid.UUID | None = None
    created_at: AwareDatetime
    updated_at: AwareDatetime


Refusal = Literal["not_found", "conflict", "invalid", "internal"]
"""``internal``: the owner failed to decide the command (a fault, logged by the owner); nothing changed."""


class CommandReply(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: Literal["command_reply"] = "command_reply"
    command_id: uuid.UUID
    accepted: bool
    refusal: Refusal | None = None
    message: str | None = None
    details: dict[str, Any] = {}
    created: bool = False
    """The command created the aggregate (a submission that was not a repeat)."""
    job: JobSnapshot | None = None
    queue: QueueRecord | None = None

    @property
    def key(self) -> bytes:
        return str(self.command_id).encode()

    def headers(self) -> list[tuple[str, bytes]]:
        return []

    def encoded(self) -> bytes:
        return model_json(self)
