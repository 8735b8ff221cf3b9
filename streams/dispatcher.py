"""The dispatch state of one queue, pure: which ready job goes to which worker next.

Ready jobs are served by priority (higher first), then in the order they became ready
(their notice's position in the dispatch log, ``dispatch_seq``). A queue's ``max_concurrent_jobs`` caps the
jobs running at once; a paused queue offers nothing. An offer marks the job running at
once (so two requests never get the same job); the job's owner then grants or refuses the
lease and its next notice settles the matter either way.

The dispatcher also knows the queue's scheduled jobs, so it is the one that can say how
many jobs are live (asked before a delete). A deleted queue offers nothing, and every job
that is or becomes pending or scheduled in it is to be cancelled: a submission that raced
the delete ends cancelled, never stuck.
"""

from __future__ import annotations

import heapq
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime

from schemas.dispatch import JobStatusNotice, LeaseRequested, QueueNotice
from schemas.job import JobStatus


_PACK_SLOTS = 1 << 20  # more messages than any pack holds (a pack is at most 256 KiB)


def dispatch_seq(offset: int, index: int) -> int:
    """A notice's place in the dispatch log: its record's offset, then its place in that record's pack."""
    return offset * _PACK_SLOTS + index


@dataclass(slots=True)  # one tracked object per live job, not two: fewer for the collector to walk
class TrackedJob:
    job_id: uuid.UUID
    organization_id: uuid.UUID
    project_id: uuid.UUID
    priority: int
    job_type: str
    ready_seq: int
    version: int
    worker_id: uuid.UUID | None = None  # set while running
    scheduled: bool = False  # waiting for its time (a delay or a retry backoff): live, not ready


@dataclass
class QueueDispatch:
    queue_id: uuid.UUID
    is_active: bool = True
    max_concurrent_jobs: int = 10
    deleted: bool = False
    jobs: dict[uuid.UUID, TrackedJob] = field(default_factory=dict)
    _running: set[uuid.UUID] = field(default_factory=set)  # kept as jobs change: offers read it on every tick
    _ready: list[tuple[int, int, uuid.UUID]] = field(default_factory=list)
    waiting: deque[LeaseRequested] = field(default_factory=deque)

    # --- what the queue hears ------------------------------------------------------------

    def on_queue(self, notice: QueueNotice) -> None:
        self.is_active = notice.is_active
        self.max_concurrent_jobs = notice.max_concurrent_jobs
        self.deleted = notice.deleted

    def to_cancel(self) -> list[TrackedJob]:
        """The jobs a deleted queue must cancel: every one that is pending or scheduled."""
        if not self.deleted:
            return []
        return [job for job in self.jobs.values() if job.worker_id is None]

    def live_counts(self) -> tuple[int, int, int]:
        """(pending, scheduled, processing)."""
        scheduled = sum(1 for job in self.jobs.values() if job.scheduled)
        return len(self.jobs) - scheduled - self.running, scheduled, self.running

    def on_status(self, notice: JobStatusNotice, seq: int) -> TrackedJob | None:
        """Apply a job owner's notice. Returns the job as now tracked (None: no longer tracked)."""
        known = self.jobs.get(notice.job_id)
        if known is not None and notice.version < known.version:
            return known  # an older notice overtaken by a newer one
        if notice.status is JobStatus.PENDING:
            if known is not None and known.worker_id is None and not known.scheduled and known.version == notice.version:
                return known  # already ready
            tracked = TrackedJob(notice.job_id, notice.organization_id, notice.project_id, notice.priority,
                                 notice.job_type, ready_seq=seq, version=notice.version)
            self.jobs[notice.job_id] = tracked
            self._running.discard(notice.job_id)
            heapq.heappush(self._ready, (-tracked.priority, seq, tracked.job_id))
            return tracked
        if notice.status is JobStatus.PROCESSING:
            tracked = known or TrackedJob(notice.job_id, notice.organization_id, notice.project_id, notice.priority,
                                          notice.job_type, ready_seq=seq, version=notice.version)
            tracked.worker_id = notice.worker_id
            tracked.version = notice.version
            tracked.scheduled = False
            self.jobs[notice.job_id] = tracked
            self._running.add(notice.job_id)
            return tracked
        self._running.discard(notice.job_id)
        if notice.status is JobStatus.SCHEDULED:  # live, but not ready until its time
            tracked = TrackedJob(notice.job_id, notice.organization_id, notice.project_id, notice.priority,
                                 notice.job_type, ready_seq=seq, version=notice.version, scheduled=True)
            self.jobs[notice.job_id] = tracked
            return tracked
        self.jobs.pop(notice.job_id, None)  # finished
        return None

    def restore(self, tracked: TrackedJob) -> None:
        """Put back a job from the table after a rebalance."""
        self.jobs[tracked.job_id] = tracked
        if tracked.scheduled:
            return
        if tracked.worker_id is None:
            heapq.heappush(self._ready, (-tracked.priority, tracked.ready_seq, tracked.job_id))
        else:
            self._running.add(tracked.job_id)

    # --- what the queue decides ------------------------------------------------------------

    @property
    def running(self) -> int:
        return len(self._running)

    def offer(self, request: LeaseRequested) -> list[TrackedJob]:
        """Pick up to ``max_jobs`` ready jobs of the request's types and mark them running for its worker."""
        if not self.is_active or self.deleted:
            return []
        room = min(request.max_jobs, self.max_concurrent_jobs - self.running)
        picked: list[TrackedJob] = []
        skipped: list[tuple[int, int, uuid.UUID]] = []
        while self._ready and len(picked) < room:
            entry = heapq.heappop(self._ready)
            job = self.jobs.get(entry[2])
            if job is None or job.worker_id is not None or job.scheduled or job.ready_seq != entry[1]:
                continue  # a stale heap entry
            if request.job_types and job.job_type not in request.job_types:
                skipped.append(entry)
                continue
            job.worker_id = request.worker_id
            self._running.add(job.job_id)
            picked.append(job)
        for entry in skipped:
            heapq.heappush(self._ready, entry)
        return picked

    def park(self, request: LeaseRequested) -> None:
        self.waiting.append(request)

    def serve_waiting(self, now: datetime) -> list[tuple[LeaseRequested, list[TrackedJob]]]:
        """Offer ready work to parked requests, oldest first; answer the ones whose time is up, empty."""
        served = []
        still = deque()
        while self.waiting:
            request = self.waiting.popleft()
            offers = self.offer(request)
            if offers or request.wait_until <= now:
                served.append((request, offers))
            else:
                still.append(request)
        self.waiting = still
        return served

    def next_deadline(self) -> datetime | None:
        """When the first parked request's time is up (answered empty unless work comes first); None: none parked."""
        return min((r.wait_until for r in self.waiting), default=None)
