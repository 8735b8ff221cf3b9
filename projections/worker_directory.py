"""Every tenant's workers, in memory, fed by the compacted worker topic.

Lease calls and heartbeats need the worker (its queues, types, status) on every request;
like the queue directory, this is a dictionary lookup with the log-end barrier on a miss.
"""

from __future__ import annotations

import uuid

from producers.topics import Topics
from projections.directory import FollowedDirectory
from projections.rows import LogRecord
from schemas.envelope import Tenant
from schemas.worker import WorkerState, WorkerStateChanged
from taskforge.settings import Settings


class WorkerDirectory(FollowedDirectory):
    def __init__(self, settings: Settings, topics: Topics) -> None:
        super().__init__(settings, topics.worker_events, "worker-directory")
        self._workers: dict[uuid.UUID, tuple[Tenant, WorkerState]] = {}

    def apply(self, record: LogRecord) -> None:
        event = record.envelope.data
        if isinstance(event, WorkerStateChanged):
            self._workers[event.worker.worker_id] = (record.envelope.tenant, event.worker)

    def get(self, tenant: Tenant, worker_id: uuid.UUID) -> WorkerState | None:
        found = self._workers.get(worker_id)
        return found[1] if found is not None and found[0] == tenant else None

    async def find(self, tenant: Tenant, worker_id: uuid.UUID) -> WorkerState | None:
        return await self.lookup(lambda: self.get(tenant, worker_id))

    def of_tenant(self, tenant: Tenant) -> list[WorkerState]:
        return [worker for owner, worker in self._workers.values() if owner == tenant]
