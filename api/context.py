"""Everything a request handler may use, built once per process and torn down in order."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from aiokafka.errors import KafkaError

from api.auth import Authenticator
from producers.command_bus import CommandBus
from producers.event_log import KafkaEventLog
from producers.topics import Topics, ensure_topics
from api.host import HostSampler
from projections.projector import Projector
from projections.queries import JobQueries
from projections.queue_directory import QueueDirectory
from projections.store import ClickHouseStore
from projections.worker_directory import WorkerDirectory
from taskforge.clock import Clock, SystemClock
from taskforge.errors import EventLogUnavailable
from taskforge.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class AppContext:
    settings: Settings
    topics: Topics
    event_log: KafkaEventLog
    commands: CommandBus
    store: ClickHouseStore
    projector: Projector
    queues: QueueDirectory
    workers: WorkerDirectory
    jobs: JobQueries
    auth: Authenticator
    clock: Clock = field(default_factory=SystemClock)
    host: HostSampler = field(default_factory=HostSampler)

    @classmethod
    def build(cls, settings: Settings, clock: Clock | None = None) -> AppContext:
        topics = Topics.from_settings(settings)
        store = ClickHouseStore(settings)
        event_log = KafkaEventLog(settings)
        return cls(
            settings=settings,
            topics=topics,
            event_log=event_log,
            commands=CommandBus(settings, topics, event_log),
            store=store,
            projector=Projector(settings, store, topics),
            queues=QueueDirectory(settings, topics),
            workers=WorkerDirectory(settings, topics),
            jobs=JobQueries(store),
            auth=Authenticator(settings),
            clock=clock or SystemClock(),
        )

    async def start(self) -> None:
        await self._wait_for_topics()
        await self.store.open()
        await self.projector.start()
        await self.queues.start()
        await self.workers.start()
        await self.commands.start()
        await self.event_log.start()

    async def _wait_for_topics(self) -> None:
        """Kafka must be there at start (consumers need partitions); wait a bounded time for it."""
        deadline = asyncio.get_running_loop().time() + self.settings.kafka_start_timeout_seconds
        while True:
            try:
                created = await ensure_topics(self.settings, self.topics)
                if created:
                    log.info("created topics %s", ", ".join(created))
                return
            except (EventLogUnavailable, KafkaError) as exc:
                if asyncio.get_running_loop().time() > deadline:
                    raise EventLogUnavailable(f"Kafka not reachable at {self.settings.bootstrap_servers}") from exc
                await asyncio.sleep(0.5)

    async def stop(self) -> None:
        await self.commands.stop()
        await self.event_log.stop()
        await self.workers.stop()
        await self.queues.stop()
        await self.projector.stop()
        await self.store.close()
