"""Follow topics from known positions and let readers wait until the follower has reached the log's end.

Both the ClickHouse projector and the API's in-memory directories are such followers.
The barrier (``catch_up``) is what gives read-your-writes: a reader that misses asks
Kafka for the end offsets *now*, waits until the follower has handled everything up to
them, and reads again. Anything acknowledged before the read started is then visible.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from schemas.envelope import EventEnvelope, UndecodableEvent, UnknownEvent, decode
from producers.consumers import stop_consumer
from producers.topics import partitions_of
from projections.rows import LogRecord
from taskforge.settings import Settings

log = logging.getLogger(__name__)

Handler = Callable[[list[LogRecord], dict[TopicPartition, int]], Awaitable[None]]
"""Called with a batch's decodable records and the next offset of each partition in it."""
_RETRY_SECONDS = 1.0
_READER_CHECK_SECONDS = 0.01
"""While a batch gathers for its interval, how often it looks whether a reader started waiting."""


def batch_deadline(first_arrival: float, linger: float, previous_began: float, min_interval: float,
                   reader_waiting: bool) -> float:
    """When a batch whose first records arrived at ``first_arrival`` stops gathering.

    ``linger`` after its first records, and, while no reader waits at the barrier, no sooner than
    ``min_interval`` after the previous batch began. The linger alone lets a steady stream make a
    batch every few milliseconds, each an insert per table; the interval bounds the batches per
    second under load. After a quiet spell (the previous batch long past) it adds nothing, and a
    reader waiting for the log's end (read-your-writes) is never held by it.
    """
    soon = first_arrival + linger
    return soon if reader_waiting else max(soon, previous_began + min_interval)


class TopicTail:
    def __init__(self, settings: Settings, topics: list[str], handle: Handler, name: str,
                 min_batch_interval: float = 0.0) -> None:
        self._settings = settings
        self._min_batch_interval = min_batch_interval
        self._last_batch_began = float("-inf")
        self._readers_waiting = 0
        self._topics = topics
        self._handle = handle
        self.name = name
        self._consumer: AIOKafkaConsumer | None = None
        # End offsets are asked on a connection of their own: on the fetching one they
        # would queue behind the fetch long-poll (up to fetch_max_wait_ms, 500 ms), since
        # a broker answers one request per connection at a time.
        self._offsets: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self.positions: dict[TopicPartition, int] = {}
        self._progress = asyncio.Condition()
        self.skipped = 0

    async def start(self, start_positions: dict[TopicPartition, int] | None = None) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._settings.bootstrap_servers,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            client_id=f"taskforge-{self.name}",
        )
        partitions = await partitions_of(self._settings, self._topics)
        offsets = AIOKafkaConsumer(bootstrap_servers=self._settings.bootstrap_servers, group_id=None,
                                   enable_auto_commit=False, client_id=f"taskforge-{self.name}-offsets")
        await offsets.start()
        self._offsets = offsets
        await consumer.start()
        consumer.assign(partitions)
        start_positions = start_positions or {}
        for tp in partitions:
            self.positions[tp] = start_positions.get(tp, 0)
            consumer.seek(tp, self.positions[tp])
        self._consumer = consumer
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"tail-{self.name}")

    async def _run(self) -> None:
        assert self._consumer is not None
        while True:
            try:
                batch = await self._consumer.getmany(
                    timeout_ms=self._settings.projector_poll_ms, max_records=self._settings.projector_max_batch
                )
            except KafkaError as exc:
                log.warning("%s: fetch failed (%r); retrying", self.name, exc)
                await asyncio.sleep(_RETRY_SECONDS)
                continue
            if not batch:
                continue
            batch = await self._linger(batch)
            self._last_batch_began = asyncio.get_running_loop().time()
            records = [r for msgs in batch.values() for r in self._decoded(msgs)]
            next_positions = {tp: msgs[-1].offset + 1 for tp, msgs in batch.items()}
            await self._handle_until_done(records, next_positions)
            async with self._progress:
                self.positions.update(next_positions)
                self._progress.notify_all()

    async def _linger(self, batch: dict[TopicPartition, list[ConsumerRecord]]) -> dict[TopicPartition, list[ConsumerRecord]]:
        """Gather records until ``batch_deadline``.

        A ClickHouse insert costs about the same for one row as for thousands (it writes
        a part), so a little waiting bounds the parts per second, and the CPU they cost
        (at 2,000 events/s, 20 batches a second took ~1.4 cores of the projector's process,
        4 took ~0.7; docs/figures.md), at a price in latency that only readers who do not
        wait pay.
        """
        assert self._consumer is not None
        loop = asyncio.get_running_loop()
        linger = self._settings.projector_linger_ms / 1000
        limit = self._settings.projector_max_batch
        count = sum(len(m) for m in batch.values())
        first_arrival = loop.time()

        def remaining() -> float:
            return batch_deadline(first_arrival, linger, self._last_batch_began, self._min_batch_interval,
                                  self._readers_waiting > 0) - loop.time()

        while count < limit and (left := remaining()) > 0:
            more = await self._consumer.getmany(timeout_ms=max(1, int(min(left, _READER_CHECK_SECONDS) * 1000)),
                                                max_records=limit - count)
            for tp, messages in more.items():
                batch.setdefault(tp, []).extend(messages)
                count += len(messages)
        return batch

    def _decoded(self, messages: list[ConsumerRecord]) -> list[LogRecord]:
        out = []
        for m in messages:
            try:
                envelope = decode(m.value)
            except UndecodableEvent as exc:
                self.skipped += 1
                log.error("%s: skipping undecodable record %s[%d]@%d: %s", self.name, m.topic, m.partition, m.offset, exc)
                continue
            if isinstance(envelope, UnknownEvent):
                self.skipped += 1
                continue
            assert isinstance(envelope, EventEnvelope)
            out.append(LogRecord(envelope, m.topic, m.partition, m.offset))
        return out

    async def _handle_until_done(self, records: list[LogRecord], next_positions: dict[TopicPartition, int]) -> None:
        """A batch is handled or retried; positions never move past an unhandled record."""
        while True:
            try:
                await self._handle(records, next_positions)
                return
            except asyncio.CancelledError:
                raise
            except Exception:  # the follower must outlive a failing sink; it retries the same batch
                log.exception("%s: handling %d records failed; retrying", self.name, len(records))
                await asyncio.sleep(_RETRY_SECONDS)

    async def wait_for(self, targets: dict[TopicPartition, int], timeout: float) -> bool:
        """Wait until every partition's position reached its target offset."""

        def reached() -> bool:
            return all(self.positions.get(tp, 0) >= offset for tp, offset in targets.items())

        async with self._progress:
            if reached():
                return True
            self._readers_waiting += 1  # the batch gathering now stops pacing itself (batch_deadline)
            try:
                await asyncio.wait_for(self._progress.wait_for(reached), timeout)
            except TimeoutError:
                return False
            finally:
                self._readers_waiting -= 1
        return True

    async def end_offsets(self) -> dict[TopicPartition, int]:
        assert self._offsets is not None
        return await self._offsets.end_offsets(list(self.positions))

    async def _end_offsets_within(self, timeout: float) -> dict[TopicPartition, int] | None:
        try:
            async with asyncio.timeout(timeout):
                return await self.end_offsets()
        except (KafkaError, TimeoutError) as exc:
            log.warning("%s: cannot read end offsets (%r)", self.name, exc)
            return None

    async def catch_up(self, timeout: float | None = None) -> bool:
        """The read barrier: True once everything in the log at call time has been handled."""
        timeout = timeout if timeout is not None else self._settings.read_barrier_timeout_seconds
        ends = await self._end_offsets_within(timeout)
        return ends is not None and await self.wait_for(ends, timeout)

    async def lag(self) -> int | None:
        """Records in the log not yet handled; None when Kafka does not say in time."""
        ends = await self._end_offsets_within(self._settings.read_barrier_timeout_seconds)
        if ends is None:
            return None
        return sum(max(0, end - self.positions.get(tp, 0)) for tp, end in ends.items())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for consumer in (self._consumer, self._offsets):
            if consumer is not None:
                await stop_consumer(consumer, self.name)
