"""Append events to Kafka and know, within a bounded time, whether Kafka took them.

The API answers a write only after this says the events were acknowledged
(idempotent producer, ``acks=all``). When Kafka does not acknowledge in time the
caller gets ``EventLogUnavailable`` (503), and the producer that held the events is
discarded *without flushing*: an idempotent aiokafka producer never expires a batch
while it knows the partition leader, so it would otherwise deliver, after the broker
came back, an event whose request was already refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from producers.partition_lanes import Filling, Lane, PartitionLanes
from schemas.packs import partition_of
from taskforge.errors import EventLogUnavailable
from taskforge.settings import Settings

log = logging.getLogger(__name__)

_RECONNECT_MIN_SECONDS = 0.5
_RECONNECT_MAX_SECONDS = 5.0


PRODUCER_BATCH_BYTES = 512 * 1024  # below the broker's default 1 MiB message limit


class Publishable(Protocol):
    """Anything TaskForge writes to a topic: events, commands, replies."""

    @property
    def key(self) -> bytes: ...

    def headers(self) -> list[tuple[str, bytes]]: ...

    def encoded(self) -> bytes: ...


_Send = tuple[str, bytes, bytes | None, int | None, list[tuple[str, bytes]] | None]  # topic, key, value, partition, headers


class Placed(Protocol):
    """A record for a partition its writer chose."""

    @property
    def topic(self) -> str: ...

    @property
    def partition(self) -> int: ...

    @property
    def key(self) -> bytes: ...

    @property
    def value(self) -> bytes | None: ...


@dataclass(frozen=True)
class Appended:
    """Where an acknowledged event now stands in the log."""

    topic: str
    partition: int
    offset: int


class KafkaEventLog:
    """The one way TaskForge writes to Kafka."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._timeout = settings.kafka_publish_timeout_seconds
        self._producer: AIOKafkaProducer | None = None
        self._lanes: PartitionLanes | None = None  # the producer's, replaced with it
        self._reconnect_task: asyncio.Task[None] | None = None
        self._closing = False

    @property
    def connected(self) -> bool:
        return self._producer is not None

    @property
    def batches_sent(self) -> int:
        """Producer batches the current producer was given: concurrent appends to a partition share them."""
        return self._lanes.batches_sent if self._lanes is not None else 0

    def _new_producer(self) -> AIOKafkaProducer:
        return AIOKafkaProducer(
            bootstrap_servers=self._settings.bootstrap_servers,
            enable_idempotence=True,
            acks="all",
            request_timeout_ms=int(self._timeout * 1000),
            linger_ms=0,
            # an owner appends a whole decided batch at once; with the default 16 KiB batches and the idempotent
            # producer's one request in flight per partition, 1,000 events took ~60 sequential round trips
            max_batch_size=PRODUCER_BATCH_BYTES,
        )

    async def start(self) -> None:
        """Connect now if Kafka answers, otherwise keep trying in the background."""
        if not await self._try_connect():
            self._schedule_reconnect()

    async def _try_connect(self) -> bool:
        producer = self._new_producer()
        try:
            await asyncio.wait_for(producer.start(), self._timeout)
        except (KafkaError, OSError, TimeoutError) as exc:
            log.warning("Kafka not reachable at %s: %r", self._settings.bootstrap_servers, exc)
            with contextlib.suppress(KafkaError, OSError, TimeoutError):
                await asyncio.wait_for(producer.stop(), self._timeout)
            return False
        self._producer, self._lanes = producer, PartitionLanes(producer)
        log.info("event log connected to %s", self._settings.bootstrap_servers)
        return True

    def _schedule_reconnect(self) -> None:
        if self._closing or (self._reconnect_task is not None and not self._reconnect_task.done()):
            return
        self._reconnect_task = asyncio.get_running_loop().create_task(self._reconnect_loop())

    async def _reconnect_loop(self) -> None:
        delay = _RECONNECT_MIN_SECONDS
        while not self._closing and self._producer is None:
            await asyncio.sleep(delay)
            if await self._try_connect():
                return
            delay = min(delay * 2, _RECONNECT_MAX_SECONDS)

    async def append(self, topic: str, envelopes: Sequence[Publishable]) -> list[Appended]:
        """Append records (each under its own key); return their positions once acknowledged."""
        return await self._acknowledged((topic, e.key, e.encoded(), None, e.headers()) for e in envelopes)

    async def append_placed(self, records: Sequence[Placed]) -> None:
        """Append records whose partition the caller chose (a table's changelog entries); return once acknowledged."""
        await self._acknowledged((r.topic, r.key, r.value, r.partition, None) for r in records)

    async def _acknowledged(self, sends: Iterable[_Send]) -> list[Appended]:
        producer, lanes = self._producer, self._lanes
        if producer is None or lanes is None:
            raise EventLogUnavailable("the event log (Kafka) is unreachable; nothing was recorded")
        try:
            async with asyncio.timeout(self._timeout):
                return await _in_batches(producer, lanes, sends)
        except (KafkaError, TimeoutError) as exc:
            self._discard(producer, exc)
            raise EventLogUnavailable(
                f"the event log (Kafka) did not acknowledge within {self._timeout:g}s; nothing was recorded"
            ) from exc

    def _discard(self, producer: AIOKafkaProducer, cause: BaseException) -> None:
        """Drop a producer whose events were refused to callers, and start a fresh one."""
        if self._producer is not producer:
            return  # a concurrent append already discarded it
        self._producer = None
        if self._lanes is not None:
            self._lanes.abandon(EventLogUnavailable("the event log (Kafka) is unreachable; nothing was recorded"))
            self._lanes = None
        log.error("discarding the Kafka producer after %r; reconnecting", cause)
        asyncio.get_running_loop().create_task(_close_without_flushing(producer, cause))
        self._schedule_reconnect()

    async def stop(self) -> None:
        self._closing = True
        if self._reconnect_task is not None:
            self._reconnect_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reconnect_task
        producer, self._producer = self._producer, None
        lanes, self._lanes = self._lanes, None
        if producer is not None and lanes is not None:
            try:
                async with asyncio.timeout(self._timeout):
                    await lanes.handed_over()  # batches still filling go to the producer first
                    await producer.stop()  # a clean stop flushes
            except (KafkaError, TimeoutError):
                await _close_without_flushing(producer, EventLogUnavailable("shutting down"))


async def _in_batches(producer: AIOKafkaProducer, lanes: PartitionLanes, sends: Iterable[_Send]) -> list[Appended]:
    """Queue records on their partitions' lanes (``producers.partition_lanes``) and wait for them.

    ``producer.send`` costs ~12 us of CPU per record here (a future, the accumulator, the
    partitioner), building the batches ourselves ~4 (``docs/figures.md``); the stream processors
    append about nine records per job. A record without a partition goes where Kafka's own
    partitioner puts its key. Kafka numbers a batch's records from its base offset, in the order
    they were appended, which is how each record's position is known. Every record is queued before
    the first wait, so one append's records for a partition stay together and in order.
    """
    counts: dict[str, int] = {}
    placed: list[tuple[str, int, _Send]] = []
    for send in sends:
        topic, key, _value, partition, _headers = send
        if partition is None:
            if topic not in counts:
                counts[topic] = len(await producer.partitions_for(topic))
            partition = partition_of(key, counts[topic])
        placed.append((topic, partition, send))
    queued: list[tuple[str, int, Filling, int]] = []
    idle: list[Lane] = []  # lanes this append found idle: it hands their first batch over itself
    for topic, partition, (_topic, key, value, _partition, headers) in placed:
        lane = lanes.lane(topic, partition)
        filling, index, hand_over = lane.add(key, value, headers or [])
        queued.append((topic, partition, filling, index))
        if hand_over:
            idle.append(lane)
    for n, lane in enumerate(idle):
        try:
            await lane.hand_over_first()
        except BaseException:  # cancelled or refused: the lanes not yet handed over still must be
            for rest in idle[n + 1:]:
                rest.hand_over_later()
            raise
    fillings = list({id(f): f for _topic, _partition, f, _index in queued}.values())
    acknowledged = await asyncio.gather(*(f.acknowledgement() for f in fillings))
    bases = {id(f): metadata.offset for f, metadata in zip(fillings, acknowledged, strict=True)}
    return [Appended(topic, partition, bases[id(f)] + index) for topic, partition, f, index in queued]


async def _close_without_flushing(producer: AIOKafkaProducer, cause: BaseException) -> None:
    """Close a producer without sending what it still queues.

    aiokafka has no public call for this. Its sender task is the only thing that ever
    sends a queued batch; cancelling it first leaves ``stop()`` nothing to flush, and the
    queued batches are dropped with the producer. Their callers already got their 503.
    """
    sender = producer._sender  # noqa: SLF001 - see the docstring
    try:
        await sender.close()
        await producer.stop()
    except (KafkaError, OSError, asyncio.CancelledError) as exc:
        log.warning("error while discarding a Kafka producer (after %r): %r", cause, exc)
