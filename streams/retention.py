"""When the job owners let go of a job that has ended.

The owner's table holds every job from its submission on (~1.1 KB each, in memory and in the
changelog a restart restores), so without an end it grows with every job ever run: ~8 GB an
hour at 2,000 jobs/s. A job that has ended is still needed for a while: a manual retry of a
failed or dead-lettered job is decided from it, and a worker's late report is answered 409
from it. So a terminal job is archived once its retention has passed since its last event:
``job_retention_seconds`` for succeeded and cancelled jobs, ``failed_job_retention_seconds``
for failed and dead-lettered ones. The owner's timer decides an ``ArchiveJob`` for each due job
in a round of the owner's own (``streams.app``, ``archive_due_jobs``; the rules in
``streams.deciders.job``), which appends ``JobArchived`` and deletes the entry (a tombstone in
the changelog). The read model keeps the job as it ended. A job submitted with an idempotency key
is never archived (its key must keep finding it; ``streams.deciders.job.archivable`` says why).

Jobs end in about the order of their last events and each class has one retention, so each
class's archive times come in order: a FIFO per class, not a heap. An entry goes stale when
the job is retried or a late report moves its last event; the holding is checked again when
the entry comes due, and a job that ends again is noted again.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta

from schemas.commands import CommandEnvelope
from schemas.ids import derived_id
from schemas.job import ArchiveJob, JobStatus
from streams.deciders.job import archivable
from streams.job_holding import OwnedJob
from taskforge.settings import Settings

_ENDED = frozenset({JobStatus.SUCCEEDED, JobStatus.CANCELLED})  # the other ended ones: failed, dead-lettered


@dataclass(frozen=True, slots=True)
class Retention:
    """How long an owner keeps a job after its last event, by how it ended."""

    ended: timedelta
    failed: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> Retention:
        return cls(ended=timedelta(seconds=settings.job_retention_seconds),
                   failed=timedelta(seconds=settings.failed_job_retention_seconds))

    def archive_at(self, owned: OwnedJob) -> datetime | None:
        """When the job is to be archived, if it ever is as it stands."""
        if not archivable(owned.state):
            return None
        return owned.updated_at + (self.ended if owned.state.status in _ENDED else self.failed)


class ArchiveSchedule:
    """The table keys of the ended jobs an owner instance holds, in the order they come due (one FIFO per
    retention). Entries are ``(due, key)`` tuples of immutable values, which the collector stops tracking,
    so a day of ended jobs here is not walked by every full collection."""

    def __init__(self, retention: Retention) -> None:
        self.retention = retention
        self._ended: deque[tuple[datetime, bytes]] = deque()
        self._failed: deque[tuple[datetime, bytes]] = deque()

    def __len__(self) -> int:
        return len(self._ended) + len(self._failed)

    def note(self, key: bytes, owned: OwnedJob) -> None:
        """Called for every holding the owner writes; only a job that is archivable as it stands is noted."""
        at = self.retention.archive_at(owned)
        if at is not None:
            (self._ended if owned.state.status in _ENDED else self._failed).append((at, key))

    def clear(self) -> None:
        self._ended.clear()
        self._failed.clear()

    def settle(self) -> None:
        """Puts each FIFO in due order after a rebuild (``clear``, then ``note`` for what the table holds after a
        rebalance, in no particular order): ``pop_due`` looks only at the head."""
        for line in (self._ended, self._failed):
            ordered = sorted(line)
            line.clear()
            line.extend(ordered)

    def pop_due(self, now: datetime, limit: int = 10_000) -> list[bytes]:
        """The keys whose entry is due by ``now`` (at most ``limit``): candidates, to be checked against the
        holding (``due_for_archive``), since the job may have moved on after it was noted."""
        keys: list[bytes] = []
        for line in (self._ended, self._failed):
            while line and line[0][0] <= now and len(keys) < limit:
                keys.append(line.popleft()[1])
        return keys


def due_for_archive(owned: OwnedJob | None, retention: Retention, now: datetime) -> bool:
    """Whether the holding, as it stands now, is past its retention."""
    if owned is None:
        return False
    at = retention.archive_at(owned)
    return at is not None and at <= now


def archive_command(owned: OwnedJob, now: datetime) -> CommandEnvelope:
    """The command a due entry makes. Its id is derived from the job's round and version, so an archive decided
    again after a crash (before its tombstone was durable) gives the same events, with the same ids."""
    state = owned.state
    command_id = derived_id(state.job_id, f"archive:{state.round}:{owned.version}")
    return CommandEnvelope.of(ArchiveJob(job_id=state.job_id, round=state.round), tenant=owned.tenant,
                              issued_at=now, command_id=command_id, actor="taskforge:retention", wants_reply=False)
