"""Time-driven transitions of the jobs an owner instance holds.

The owner does not poll its table: every time it writes a job it also notes when that job
next needs attention (a scheduled job's time, a lease's deadline), in a heap. A faust
timer pops what is due and sends the owner the command that time calls for
(``PromoteJob``, ``ExpireLease``); the decider ignores a command that arrives for a job
that has moved on meanwhile. Only a job's current timer is handed out (``TimerHeap``). After a rebalance the
heap is rebuilt from the table, whose memory store holds this instance's partitions.
"""

from __future__ import annotations

import heapq
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from schemas.commands import CommandEnvelope
from schemas.ids import derived_id
from schemas.job import ExpireLease, JobStatus, PromoteJob
from streams.job_holding import OwnedJob

TimerKind = Literal["promote", "expire"]
_SLACK = 1_024  # stale entries tolerated on top of the live ones before the heap is rebuilt


@dataclass(frozen=True, order=True, slots=True)  # one per leased job: no __dict__ for the collector to walk
class Due:
    at: datetime
    job_id: uuid.UUID = field(compare=False)
    kind: TimerKind = field(compare=False)
    lease_id: uuid.UUID | None = field(default=None, compare=False)
    worker_id: uuid.UUID | None = field(default=None, compare=False)


def next_due(owned: OwnedJob) -> Due | None:
    """When the job next needs the clock, if ever."""
    state = owned.state
    if state.status is JobStatus.SCHEDULED and state.scheduled_for is not None:
        return Due(state.scheduled_for, state.job_id, "promote")
    if state.status is JobStatus.PROCESSING and state.lease is not None:
        return Due(state.lease.deadline, state.job_id, "expire", state.lease.lease_id, state.lease.worker_id)
    return None


class TimerHeap:
    """Each job's one current timer, in due order.

    A job moves on (its lease completes, is extended, expires) long before most of its timers
    come due. The heap keeps superseded entries until they surface (a heap cannot delete from
    the middle) but hands out only each job's current one, and is rebuilt from the current ones
    when stale entries outnumber them: with a two-minute lease timeout at 650 jobs/s, the stale
    deadlines of finished jobs had been ~80,000 entries (each one a no-op ``ExpireLease`` when it
    surfaced) and most of what a full garbage collection walked.
    """

    def __init__(self) -> None:
        self._heap: list[Due] = []
        self._current: dict[uuid.UUID, Due] = {}

    def __len__(self) -> int:
        return len(self._current)

    def note(self, owned: OwnedJob) -> None:
        job_id = owned.state.job_id
        due = next_due(owned)
        if due is None:
            self._current.pop(job_id, None)
            return
        current = self._current.get(job_id)
        if current is not None and (current.at, current.kind, current.lease_id) == (due.at, due.kind, due.lease_id):
            return
        self._current[job_id] = due
        heapq.heappush(self._heap, due)
        if len(self._heap) > 2 * len(self._current) + _SLACK:
            self._heap = list(self._current.values())
            heapq.heapify(self._heap)

    def rebuild(self, jobs: Iterable[OwnedJob]) -> None:
        self._current = {d.job_id: d for d in (next_due(o) for o in jobs) if d is not None}
        self._heap = list(self._current.values())
        heapq.heapify(self._heap)

    def pop_due(self, now: datetime, limit: int = 10_000) -> list[Due]:
        """The current timers due by ``now``, at most ``limit``, earliest first (each handed out once)."""
        due = []
        while self._heap and self._heap[0].at <= now and len(due) < limit:
            entry = heapq.heappop(self._heap)
            if self._current.get(entry.job_id) is entry:
                del self._current[entry.job_id]
                due.append(entry)
        return due

    def leases_of(self, workers: set[uuid.UUID]) -> list[Due]:
        """The live leases held by these workers: every leased job has exactly one current deadline here,
        so a lost worker's jobs are found without reading the table."""
        return [due for due in self._current.values() if due.kind == "expire" and due.worker_id in workers]

    @property
    def stale(self) -> int:
        """Superseded entries still in the heap."""
        return len(self._heap) - len(self._current)


def command_for(due: Due, owned: OwnedJob, now: datetime) -> CommandEnvelope:
    """The command a due timer sends. Its id is derived, so a re-sent timer is the same command."""
    command = (PromoteJob(job_id=due.job_id) if due.kind == "promote"
               else ExpireLease(job_id=due.job_id, lease_id=due.lease_id, reason="timeout"))
    command_id = derived_id(due.job_id, f"timer:{due.kind}:{due.at.isoformat()}:{due.lease_id}")
    return CommandEnvelope.of(command, tenant=owned.tenant, issued_at=now, command_id=command_id,
                              actor="taskforge:timer", wants_reply=False)
