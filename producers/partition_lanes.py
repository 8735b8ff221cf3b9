"""Concurrent appends to one partition share its next producer batch.

aiokafka's sender keeps one produce request in flight per broker, and a request carries at most
one batch per partition; ``send_batch`` waits until the partition's previous batch has gone into a
request before queueing the next. ``KafkaEventLog`` builds its own batches (``producer.send`` costs
~3x the CPU per record), so before these lanes every append was a batch of its own, and K
concurrent appends to a partition (the API's requests, each with its commands) waited K produce
round trips in turn: with two workers of 1,000 slots, appends waited over 5 s and were refused
(``docs/figures.md``). aiokafka's own ``send`` avoids that by appending to a partition's open batch,
which is what a lane does with the batches it builds.

A lane holds the batches of its partition that the producer has not taken yet, oldest first; a record
joins the newest one that has room. The lane's pump hands them to the producer one at a time, and while
the producer is still busy with the previous one, the next keeps filling: each produce round trip
carries whatever arrived during the last one. A record's position is its batch's base offset plus its
index in the batch, as before.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from aiokafka import AIOKafkaProducer
from aiokafka.producer.message_accumulator import BatchBuilder
from aiokafka.structs import RecordMetadata

from taskforge.errors import EventLogUnavailable

log = logging.getLogger(__name__)

Headers = list[tuple[str, bytes]]


@dataclass
class _Filling:
    """A batch the producer has not taken yet, and the base offset its records will learn."""

    builder: BatchBuilder
    base: asyncio.Future[int]
    count: int = 0

    def append(self, key: bytes | None, value: bytes | None, headers: Headers) -> int | None:
        """The record's index in this batch, or None when the batch is full."""
        if self.builder.append(key=key, value=value, timestamp=None, headers=headers) is None:
            return None
        self.count += 1
        return self.count - 1


@dataclass
class _Lane:
    producer: AIOKafkaProducer
    topic: str
    partition: int
    filling: list[_Filling] = field(default_factory=list)
    pump: asyncio.Task[None] | None = None
    batches_sent: int = 0

    def add(self, key: bytes | None, value: bytes | None, headers: Headers) -> tuple[asyncio.Future[int], int]:
        if self.filling and (index := self.filling[-1].append(key, value, headers)) is not None:
            return self.filling[-1].base, index
        newest = _Filling(self.producer.create_batch(), _observed_future())
        self.filling.append(newest)
        index = newest.append(key, value, headers)
        if index is None:  # an empty batch takes a record of any size; refusing one is aiokafka's bug, not ours
            raise EventLogUnavailable(f"a record did not fit an empty batch for {self.topic}[{self.partition}]")
        if self.pump is None:
            self.pump = asyncio.get_running_loop().create_task(self._hand_over())
        return newest.base, index

    async def _hand_over(self) -> None:
        """Give the producer each batch in turn; ``send_batch`` returns once the previous one is in a request,
        and until then the batch it waits with keeps taking records."""
        try:
            while self.filling:
                oldest = self.filling[0]
                try:
                    acknowledged = await self.producer.send_batch(oldest.builder, self.topic, partition=self.partition)
                except Exception as exc:  # noqa: BLE001 - whatever the producer raises goes to this batch's callers
                    self.filling.pop(0)
                    _settle(oldest.base, exc)
                    continue
                self.filling.pop(0)  # taken by the producer: no record may join it any more
                self.batches_sent += 1
                acknowledged.add_done_callback(lambda done, base=oldest.base: _base_offset_of(done, base))
        finally:
            self.pump = None

    def abandon(self, cause: BaseException) -> None:
        """The producer is being discarded: batches it never took are failed, never sent."""
        if self.pump is not None:
            self.pump.cancel()
        for waiting in self.filling:
            _settle(waiting.base, cause)
        self.filling.clear()


class PartitionLanes:
    """One producer's lanes, one per partition it appends to."""

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self._producer = producer
        self._lanes: dict[tuple[str, int], _Lane] = {}

    def add(self, topic: str, partition: int, key: bytes | None, value: bytes | None,
            headers: Headers) -> tuple[asyncio.Future[int], int]:
        """Queue a record; returns the future of its batch's base offset and its index in that batch."""
        lane = self._lanes.get((topic, partition))
        if lane is None:
            lane = self._lanes[(topic, partition)] = _Lane(self._producer, topic, partition)
        return lane.add(key, value, headers)

    @property
    def batches_sent(self) -> int:
        """Batches handed to the producer so far (concurrent appends share them)."""
        return sum(lane.batches_sent for lane in self._lanes.values())

    async def handed_over(self) -> None:
        """Wait until the producer has taken every batch (before a clean stop flushes them)."""
        pumps = [lane.pump for lane in self._lanes.values() if lane.pump is not None]
        if pumps:
            await asyncio.gather(*pumps, return_exceptions=True)

    def abandon(self, cause: BaseException) -> None:
        for lane in self._lanes.values():
            lane.abandon(cause)


def _observed_future() -> asyncio.Future[int]:
    """A base-offset future whose failure counts as seen: a caller that timed out has already answered 503,
    and asyncio would otherwise log the failure again when the future is collected."""
    future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    future.add_done_callback(lambda done: done.cancelled() or done.exception())
    return future


def _settle(base: asyncio.Future[int], exc: BaseException) -> None:
    if not base.done():
        base.set_exception(exc)


def _base_offset_of(acknowledged: asyncio.Future[RecordMetadata], base: asyncio.Future[int]) -> None:
    if base.done():
        return
    if acknowledged.cancelled():
        base.set_exception(EventLogUnavailable("the producer dropped the batch"))
    elif (exc := acknowledged.exception()) is not None:
        base.set_exception(exc)
    else:
        base.set_result(acknowledged.result().offset)
