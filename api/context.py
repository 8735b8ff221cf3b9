"""Everything a request handler may use, built once per process and torn down in order."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from datetime import datetime
from dataclasses import dataclass, field

from aiokafka.errors import KafkaError

from api.auth import Authenticator
from api.budgets import RequestBudgets
from api.credentials import SHOWN_PREFIX_LENGTH, digest
from api.passwords import PasswordHashing
from api.tokens import TokenSigner
from projections.identity_directory import IdentityDirectory
from streams.deciders.identity import forget_expired
from schemas.identity import EnsureBootstrap, IdentityCommandEnvelope, TouchApiKeys
from producers.command_bus import OwnerDidNotAnswer
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
from taskforge.gc_pauses import collect_on_schedule
from taskforge.settings import BOOTSTRAP_KEY_ID, Settings

BOOTSTRAP_RETRY_SECONDS = 1.0  # between attempts to register the bootstrap key while Kafka or its owner is away
log = logging.getLogger(__name__)
KEY_USE_FLUSH_SECONDS = 60.0


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
    identity: IdentityDirectory
    auth: Authenticator
    signer: TokenSigner
    passwords: PasswordHashing
    budgets: RequestBudgets
    clock: Clock = field(default_factory=SystemClock)
    host: HostSampler = field(default_factory=HostSampler)
    bootstrapped: asyncio.Event = field(default_factory=asyncio.Event)
    _background: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    def build(cls, settings: Settings, clock: Clock | None = None) -> AppContext:
        topics = Topics.from_settings(settings)
        store = ClickHouseStore(settings)
        event_log = KafkaEventLog(settings)
        identity = IdentityDirectory(settings, topics)
        signer = TokenSigner(settings)
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
            identity=identity,
            auth=Authenticator(identity, signer),
            signer=signer,
            passwords=PasswordHashing(settings),
            budgets=RequestBudgets(settings),
            clock=clock or SystemClock(),
        )

    async def start(self) -> None:
        await self._wait_for_topics()
        await self.store.open()
        await self.projector.start()
        await self.queues.start()
        await self.workers.start()
        await self.identity.start()
        await self.commands.start()
        await self.event_log.start()
        loop = asyncio.get_running_loop()
        self._background = [loop.create_task(self._ensure_bootstrap(), name="bootstrap"),
                            loop.create_task(self._every_minute(), name="identity-upkeep"),
                            collect_on_schedule()]

    async def _ensure_bootstrap(self) -> None:
        """Make the configured bootstrap key a real API key of the bootstrap tenant, through the identity
        owner; retried until the stream processors answer (they may start after the API)."""
        key = self.settings.bootstrap_api_key
        if key is None:
            self.bootstrapped.set()
            return
        secret = key.get_secret_value()
        command = EnsureBootstrap(organization_id=self.settings.bootstrap_organization_id,
                                  project_id=self.settings.bootstrap_project_id, key_id=BOOTSTRAP_KEY_ID,
                                  key_prefix=secret[:SHOWN_PREFIX_LENGTH], key_hash=digest(secret))
        while True:
            envelope = IdentityCommandEnvelope(command_id=uuid.uuid4(), issued_at=self.clock.now(),
                                               actor="taskforge:bootstrap", data=command)
            try:
                reply = await self.commands.decide_identity(envelope)
            except (OwnerDidNotAnswer, EventLogUnavailable) as exc:
                # with Kafka down the event log refuses at once, without ever suspending: retried without a
                # pause, this loop held the event loop (no request served, SIGTERM unheard, a core at 100%)
                log.info("bootstrap: waiting for the identity owner (%s)", exc.message)
            else:
                if reply.accepted and await self.identity.tail.catch_up():
                    self.bootstrapped.set()
                    return
                log.error("bootstrap refused: %s", reply.message)
            await asyncio.sleep(BOOTSTRAP_RETRY_SECONDS)

    async def _every_minute(self) -> None:
        """API keys' ``last_used_at`` (once a minute per replica, not one event per request), and the
        memory that only ages: revoked access tokens past their expiry, idle rate-limit buckets."""
        while True:
            await asyncio.sleep(KEY_USE_FLUSH_SECONDS)
            await self.flush_key_use()
            now = self.clock.now()
            forget_expired(self.identity.registry, now)
            self.budgets.requests.forget_idle(now.timestamp())
            self.budgets.login_failures.forget_idle(now.timestamp())

    async def flush_key_use(self) -> None:
        used, self.auth.keys_used = self.auth.keys_used, {}
        by_org: dict[uuid.UUID, dict[uuid.UUID, datetime]] = {}
        for key_id, (org_id, at) in used.items():
            by_org.setdefault(org_id, {})[key_id] = at
        for org_id, last_used in by_org.items():
            envelope = IdentityCommandEnvelope(command_id=uuid.uuid4(), issued_at=self.clock.now(),
                                               actor="taskforge:api", data=TouchApiKeys(organization_id=org_id,
                                                                                        last_used=last_used))
            try:
                await self.commands.decide_identity(envelope)
            except (OwnerDidNotAnswer, EventLogUnavailable) as exc:
                log.warning("api keys: last use not recorded (%s)", exc.message)

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
        for task in self._background:
            task.cancel()
        for task in self._background:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.commands.stop()
        await self.event_log.stop()
        await self.workers.stop()
        await self.identity.stop()
        await self.queues.stop()
        await self.projector.stop()
        await self.store.close()
