"""Messages on ``<prefix>.dispatch``, keyed by queue id: what a queue's dispatcher hears.

The dispatcher of a queue owns its dispatch state: the ready jobs by priority, the jobs
running and on which worker, the lease requests waiting for work. Job owners tell it where
each job stands (``JobStatusNotice``, after every decision); workers ask it for work
(``LeaseRequested``, through the API). It answers a request by offering jobs to their
owners (``LeaseJob`` commands with ids derived from the request id, so the API can wait
for them before they exist) and by telling the API how many it offered
(``LeaseRequestDone``, on the reply topic).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from schemas.encoding import model_json
from schemas.job import JobStatus
from schemas.ids import derived_id
from schemas.packs import unpacked


class DispatchMessage(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    queue_id: uuid.UUID

    @property
    def key(self) -> bytes:
        return str(self.queue_id).encode()

    def headers(self) -> list[tuple[str, bytes]]:
        return [("kind", self.kind.encode())]  # type: ignore[attr-defined]

    def encoded(self) -> bytes:
        return model_json(self)


class JobStatusNotice(DispatchMessage):
    kind: Literal["job_status"] = "job_status"
    job_id: uuid.UUID
    organization_id: uuid.UUID
    project_id: uuid.UUID
    status: JobStatus
    priority: int
    job_type: str
    worker_id: uuid.UUID | None = None
    version: int = Field(description="The job's version at this notice; older notices are ignored.")


class QueueNotice(DispatchMessage):
    kind: Literal["queue"] = "queue"
    is_active: bool
    max_concurrent_jobs: int
    deleted: bool = False


class LeaseRequested(DispatchMessage):
    kind: Literal["lease_requested"] = "lease_requested"
    request_id: uuid.UUID
    organization_id: uuid.UUID
    project_id: uuid.UUID
    worker_id: uuid.UUID
    job_types: list[str] = Field(default_factory=list, description="Empty: any type.")
    max_jobs: int = Field(ge=1, le=100)
    wait_until: AwareDatetime
    issued_at: AwareDatetime


class LiveJobsQuery(DispatchMessage):
    """How many of the queue's jobs are pending, scheduled or processing (asked before a delete)."""

    kind: Literal["live_jobs_query"] = "live_jobs_query"
    request_id: uuid.UUID


# QueueNotice is not on the wire: a dispatcher learns a queue's state from the queue events themselves
AnyDispatchMessage = JobStatusNotice | LeaseRequested | LiveJobsQuery
_ADAPTER: TypeAdapter[AnyDispatchMessage] = TypeAdapter(Annotated[AnyDispatchMessage, Field(discriminator="kind")])


def decode_dispatch(raw: bytes) -> list[AnyDispatchMessage | ValueError]:
    """The messages of a dispatch record (a pack, ``schemas.packs``, or one message), in order.

    An item that does not validate is returned as its error, in its place; a record that is
    not JSON at all is one error.
    """
    try:
        docs = unpacked(raw)
    except orjson.JSONDecodeError as exc:
        return [exc]
    decoded: list[AnyDispatchMessage | ValueError] = []
    for doc in docs:
        try:
            decoded.append(_ADAPTER.validate_python(doc))
        except ValidationError as exc:
            decoded.append(exc)
    return decoded


def lease_command_id(request_id: uuid.UUID, index: int) -> uuid.UUID:
    """The id of the ``index``-th ``LeaseJob`` a request leads to: known to the API before it is sent."""
    return derived_id(request_id, f"lease-{index}")


class LeaseRequestDone(BaseModel):
    """On the reply topic, keyed by request id: how many offers the dispatcher made for a request."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["lease_request_done"] = "lease_request_done"
    request_id: uuid.UUID
    offered: int

    @property
    def key(self) -> bytes:
        return str(self.request_id).encode()

    def headers(self) -> list[tuple[str, bytes]]:
        return [("kind", b"lease_request_done")]

    def encoded(self) -> bytes:
        return model_json(self)


class LiveJobsCount(BaseModel):
    """On the reply topic: the dispatcher's answer to a ``LiveJobsQuery``."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["live_jobs_count"] = "live_jobs_count"
    request_id: uuid.UUID
    pending: int
    scheduled: int
    processing: int

    @property
    def live(self) -> int:
        return self.pending + self.scheduled + self.processing

    @property
    def key(self) -> bytes:
        return str(self.request_id).encode()

    def headers(self) -> list[tuple[str, bytes]]:
        return [("kind", b"live_jobs_count")]

    def encoded(self) -> bytes:
        return model_json(self)
