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

from producers.topics import Topics
from projections.directory import FollowedDirectory
from projections.rows import LogRecord
from schemas.envelope import Tenant
from schemas.queue import QueueChanged, QueueCreated, QueueDeleted, QueueSettings
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


class QueueDirectory(FollowedDirectory):
    def __init__(self, settings: Settings, topics: Topics) -> None:
        super().__init__(settings, topics.queue_events, "queue-directory")
        self._by_id: dict[uuid.UUID, QueueEntry] = {}
        self._by_name: dict[tuple[Tenant, str], uuid.UUID] = {}

    def apply(self, record: LogRecord) -> None:
        """Each queue event carries the queue's whole state: the newest one replaces the entry."""
        event = record.envelope.data
        tenant = record.envelope.tenant
        if isinstance(event, QueueDeleted):
            gone = self._by_id.pop(event.queue_id, None)
            if gone is not None and self._by_name.get((gone.tenant, gone.name)) == gone.id:
                del self._by_name[(gone.tenant, gone.name)]
        elif isinstance(event, QueueCreated):
            previous = self._by_id.get(event.queue_id)
            if previous is not None and previous.tenant != tenant:
                return  # a queue id is its tenant's for good
            if previous is not None and self._by_name.get((tenant, previous.name)) == previous.id:
                del self._by_name[(tenant, previous.name)]
            created_at = event.created_at if isinstance(event, QueueChanged) else record.envelope.occurred_at
            entry = QueueEntry(
                id=event.queue_id, tenant=tenant, name=event.name, description=event.description,
                priority=event.priority, settings=event.settings, is_active=event.is_active,
                created_at=created_at, updated_at=record.envelope.occurred_at,
            )
            self._by_id[entry.id] = entry
            self._by_name[(tenant, entry.name)] = entry.id

    def get(self, tenant: Tenant, queue_id: uuid.UUID) -> QueueEntry | None:
        entry = self._by_id.get(queue_id)
        return entry if entry is not None and entry.tenant == tenant else None

    def named(self, tenant: Tenant, name: str) -> QueueEntry | None:
        queue_id = self._by_name.get((tenant, name))
        return self._by_id.get(queue_id) if queue_id is not None else None

    async def find_by_name(self, tenant: Tenant, name: str) -> QueueEntry | None:
        """Look a queue up by name, waiting for the log's end before answering 'none'."""
        return await self.lookup(lambda: self.named(tenant, name))

    async def find(self, tenant: Tenant, queue_id: uuid.UUID) -> QueueEntry | None:
        return await self.lookup(lambda: self.get(tenant, queue_id))

    def of_tenant(self, tenant: Tenant) -> list[QueueEntry]:
        return [entry for entry in self._by_id.values() if entry.tenant == tenant]
