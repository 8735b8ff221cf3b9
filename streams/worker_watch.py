"""Notice when a worker is gone, so that its leases return to the retry policy at once
instead of at their deadlines.

Each stream-processor instance follows the whole worker topic (it is small and compacted)
and remembers every worker's last heartbeat. A worker that ``streams.deciders.worker.is_gone``
says is gone is *lost*. The instance then looks through the jobs it owns
(its own partitions) and sends ``ExpireLease(reason="worker_lost")`` for those leased to
that worker. The decider ignores a command for a lease that already ended.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from schemas.worker import WorkerState
from streams.deciders.worker import is_gone


@dataclass
class WatchedWorker:
    state: WorkerState
    lost: bool = False


class WorkerWatch:
    def __init__(self) -> None:
        self._workers: dict[uuid.UUID, WatchedWorker] = {}

    def update(self, state: WorkerState) -> None:
        watched = self._workers.get(state.worker_id)
        if watched is None or state.last_heartbeat_at >= watched.state.last_heartbeat_at:
            # a heartbeat brings a lost worker back; a deregistration stays lost
            self._workers[state.worker_id] = WatchedWorker(state, lost=False)

    def newly_lost(self, now: datetime) -> list[uuid.UUID]:
        """Workers that became lost since the last call."""
        lost = []
        for worker_id, watched in self._workers.items():
            if not watched.lost and is_gone(watched.state, now):
                watched.lost = True
                lost.append(worker_id)
        return lost
