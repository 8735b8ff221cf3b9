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
joins the newest one that has room. While a batch waits for the producer to take it (the previous one
is still on its way to a request), it keeps taking records: each produce round trip carries whatever
arrived during the last one. A record's position is its batch's base offset plus its index in it.

The common case costs nothing extra: an append to an idle lane hands its batch over itself, in its own
task, and waits on the producer's acknowledgement directly (a task of its own would cost event-loop
turns, which on the stream processors' busy loop are milliseconds). Only batches that queued behind
another are handed over by a pump task.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass, field

from aiokafka import AIOKafkaProducer
from aiokafka.producer.message_accumulator import BatchBuilder
from aiokafka.structs import RecordMetadata

from taskforge.errors import EventLogUnavailable

Headers = list[tuple[str, bytes]]


def _observed() -> asyncio.Future[None]:
    """A future whose failure counts as seen: callers that timed out already answered 503, and asyncio
    would otherwise log the failure again when the future is collected."""
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    future.add_done_callback(lambda done: done.cancelled() or done.exception())
    return future


@dataclass
class Filling:
    """A batch the producer has not taken yet; ``acknowledged`` once it has."""

    builder: BatchBuilder
    handed: asyncio.Future[None] = field(default_factory=_observed)
    acknowledged: asyncio.Future[RecordMetadata] | None = None

    def append(self, key: bytes | None, value: bytes | None, headers: Headers) -> int | None:
        """The record's index in this batch, or None when the batch is full."""
        index = self.builder.record_count()
        if self.builder.append(key=key, value=value, timestamp=None, headers=headers) is None:
            return None
        return index

    def acknowledgement(self) -> Awaitable[RecordMetadata]:
        """The batch's metadata (its base offset) once Kafka acknowledged it: the producer's own future once
        handed over (no extra event-loop turn)."""
        if self.acknowledged is not None:
            return self.acknowledged
        return self._after_hand_over()

    async def _after_hand_over(self) -> RecordMetadata:
        await self.handed
        assert self.acknowledged is not None
        return await self.acknowledged


@dataclass
class Lane:
    producer: AIOKafkaProducer
    topic: str
    partition: int
    filling: list[Filling] = field(default_factory=list)
    handing: bool = False  # someone (an append, or the pump) hands the queued batches over
    pump: asyncio.Task[None] | None = None
    batches_sent: int = 0

    def add(self, key: bytes | None, value: bytes | None, headers: Headers) -> tuple[Filling, int, bool]:
        """Queue a record: its batch, its index there, and whether the caller must hand the batch over
        (``hand_over_first``) because the lane was idle."""
        if self.filling and (index := self.filling[-1].append(key, value, headers)) is not None:
            return self.filling[-1], index, False
        newest = Filling(self.producer.create_batch())
        self.filling.append(newest)
        index = newest.append(key, value, headers)
        if index is None:  # an empty batch takes a record of any size; refusing one is aiokafka's bug, not ours
            raise EventLogUnavailable(f"a record did not fit an empty batch for {self.topic}[{self.partition}]")
        if self.handing:
            return newest, index, False
        self.handing = True
        return newest, index, True

    async def hand_over_first(self) -> None:
        """Hand the oldest batch over in the caller's task; what queued behind it goes to the pump."""
        try:
            await self._hand_over_oldest(raise_failure=True)
        finally:
            if self.filling:
                self.hand_over_later()
            else:
                self.handing = False

    def hand_over_later(self) -> None:
        """The queued batches go to the producer from a task of their own."""
        self.pump = asyncio.get_running_loop().create_task(self._pumping())

    async def _pumping(self) -> None:
        try:
            while self.filling:
                await self._hand_over_oldest(raise_failure=False)
        finally:
            self.handing, self.pump = False, None

    async def _hand_over_oldest(self, *, raise_failure: bool) -> None:
        """``send_batch`` returns once the previous batch is in a request; until then this one takes records.
        Cancelled while waiting, the batch stays queued (the producer never saw it)."""
        oldest = self.filling[0]
        try:
            acknowledged = await self.producer.send_batch(oldest.builder, self.topic, partition=self.partition)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - whatever the producer raised goes to every record of the batch
            self.filling.pop(0)
            oldest.handed.set_exception(exc)
            if raise_failure:
                raise
            return
        self.filling.pop(0)  # the producer has it: no record may join it any more
        self.batches_sent += 1
        oldest.acknowledged = acknowledged
        oldest.handed.set_result(None)

    def abandon(self, cause: BaseException) -> None:
        """The producer is being discarded: batches it never took are failed, never sent."""
        if self.pump is not None:
            self.pump.cancel()
        for waiting in self.filling:
            if not waiting.handed.done():
                waiting.handed.set_exception(cause)
        self.filling.clear()


class PartitionLanes:
    """One producer's lanes, one per partition it appends to."""

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self._producer = producer
        self._lanes: dict[tuple[str, int], Lane] = {}

    def lane(self, topic: str, partition: int) -> Lane:
        lane = self._lanes.get((topic, partition))
        if lane is None:
            lane = self._lanes[(topic, partition)] = Lane(self._producer, topic, partition)
        return lane

    @property
    def batches_sent(self) -> int:
        """Batches handed to the producer so far (concurrent appends share them)."""
        return sum(lane.batches_sent for lane in self._lanes.values())

    async def handed_over(self) -> None:
        """Wait until the producer has taken every batch (before a clean stop flushes them)."""
        waiting = [f.handed for lane in self._lanes.values() for f in lane.filling]
        if waiting:
            await asyncio.gather(*waiting, return_exceptions=True)

    def abandon(self, cause: BaseException) -> None:
        for lane in self._lanes.values():
            lane.abandon(cause)
