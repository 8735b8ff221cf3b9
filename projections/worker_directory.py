"""Every tenant's workers, in memory, fed by the compacted worker topic.

Lease calls and heartbeats need the worker (its queues, types, status) on every request;
like the queue directory, this is a dictionary lookup with the log-end barrier on a miss.
"""

from __future__ import annotations

import uuid

from aiokafka import TopicPartition

from producers.topics import Topics
from projections.rows import LogRecord
from projections.tail import TopicTail
from schemas.envelope import Tenant
from schemas.worker import WorkerState, WorkerStateChanged
from taskforge.settings import Settings


class WorkerDirectory:
    def __init__(self, settings: Settings, topics: Topics) -> None:
        self._workers: dict[uuid.UUID, tuple[Tenant, WorkerState]] = {}
        self.tail = TopicTail(settings, [topics.worker_events], self._apply, name="worker-directory")

    async def start(self) -> None:
        await self.tail.start()

    async def stop(self) -> None:
        await self.tail.stop()

    async def _apply(self, records: list[LogRecord], _positions: dict[TopicPartition, int]) -> None:
        for record in records:
            event = record.envelope.data
            if isinstance(event, WorkerStateChanged):
                self._workers[event.worker.worker_id] = (record.envelope.tenant, event.worker)

    def get(self, tenant: Tenant, worker_id: uuid.UUID) -> WorkerState | None:
        found = self._workers.get(worker_id)
        return found[1] if found is not None and found[0] == tenant else None

    async def find(self, tenant: Tenant, worker_id: uuid.UUID) -> WorkerState | None:
        worker = self.get(tenant, worker_id)
        if worker is None and await self.tail.catch_up():
            worker = self.get(tenant, worker_id)
        return worker

    def of_tenant(self, tenant: Tenant) -> list[WorkerState]:
        return [worker for owner, worker in self._workers.values() if owner == tenant]
