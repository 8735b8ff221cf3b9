"""The queues of every tenant, in memory, fed by the queue topic.

The API's write path needs queue lookups (name to id, settings, duplicate names) on
every submission; it must not pay a ClickHouse query per request, and must see a queue
as soon as its creation was acknowledged. This follower gives both: dictionary lookups,
and the log-end barrier on a miss.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from aiokafka import TopicPartition

from producers.topics import Topics
from projections.rows import LogRecord
from projections.tail import TopicTail
from schemas.envelope import Tenant
from schemas.queue import QueueCreated, QueueSettings
from taskforge.settings import Settings


@dataclass(frozen=True)
class QueueEntry:
    id: uuid.UUID
    tenant: Tenant
    name: str
    description: str | None
    priority: int
    settings: QueueSettings
    is_active: bool
    created_at: datetime
    updated_at: datetime


class QueueDirectory:
    def __init__(self, settings: Settings, topics: Topics) -> None:
        self._by_id: dict[uuid.UUID, QueueEntry] = {}
        self._by_name: dict[tuple[Tenant, str], uuid.UUID] = {}
        self.tail = TopicTail(settings, [topics.queue_events], self._apply, name="queue-directory")

    async def start(self) -> None:
        await self.tail.start()

    async def stop(self) -> None:
        await self.tail.stop()

    async def _apply(self, records: list[LogRecord], _positions: dict[TopicPartition, int]) -> None:
        for record in records:
            event = record.envelope.data
            if isinstance(event, QueueCreated) and event.queue_id not in self._by_id:
                entry = QueueEntry(
                    id=event.queue_id,
                    tenant=record.envelope.tenant,
                    name=event.name,
                    description=event.description,
                    priority=event.priority,
                    settings=event.settings,
                    is_active=event.is_active,
                    created_at=record.envelope.occurred_at,
                    updated_at=record.envelope.occurred_at,
                )
                self._by_id[entry.id] = entry
                self._by_name.setdefault((entry.tenant, entry.name), entry.id)

    def get(self, tenant: Tenant, queue_id: uuid.UUID) -> QueueEntry | None:
        entry = self._by_id.get(queue_id)
        return entry if entry is not None and entry.tenant == tenant else None

    def named(self, tenant: Tenant, name: str) -> QueueEntry | None:
        queue_id = self._by_name.get((tenant, name))
        return self._by_id.get(queue_id) if queue_id is not None else None

    async def find_by_name(self, tenant: Tenant, name: str) -> QueueEntry | None:
        """Look a queue up by name, waiting for the log's end before answering 'none'."""
        entry = self.named(tenant, name)
        if entry is None and await self.tail.catch_up():
            entry = self.named(tenant, name)
        return entry

    async def find(self, tenant: Tenant, queue_id: uuid.UUID) -> QueueEntry | None:
        entry = self.get(tenant, queue_id)
        if entry is None and await self.tail.catch_up():
            entry = self.get(tenant, queue_id)
        return entry
