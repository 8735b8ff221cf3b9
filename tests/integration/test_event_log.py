"""The event log against the real broker: the positions an append answers are where its records are.

Appends build their own producer batches (``producers.event_log``), so each record's offset is
computed from its batch's base offset; these tests read the records back at those offsets.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from producers.event_log import PRODUCER_BATCH_BYTES, Appended
from schemas.packs import partition_of
from taskforge.settings import Settings
from tests.support import fresh_log

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Raw:
    """A record as the event log takes it."""

    key: bytes
    body: bytes

    def headers(self) -> list[tuple[str, bytes]]:
        return [("kind", b"raw")]

    def encoded(self) -> bytes:
        return self.body


@dataclass(frozen=True)
class Entry:
    """A record for a partition its writer chose (a table's changelog entry)."""

    topic: str
    partition: int
    key: bytes
    value: bytes | None


async def read_back(settings: Settings, positions: list[Appended]) -> list[tuple[bytes, bytes | None, dict[str, bytes]]]:
    """Each position's record (key, value, headers), read at exactly that offset."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        found = []
        for p in positions:
            tp = TopicPartition(p.topic, p.partition)
            consumer.assign([tp])
            consumer.seek(tp, p.offset)
            message = (await consumer.getmany(tp, timeout_ms=10_000, max_records=1))[tp][0]
            assert message.offset == p.offset
            found.append((message.key, message.value, dict(message.headers)))
        return found
    finally:
        await consumer.stop()


async def test_each_appended_record_is_at_the_position_answered_for_it(broker_settings: Settings) -> None:
    settings, topics, log = await fresh_log(broker_settings)
    try:
        keys = [str(uuid.uuid4()).encode() for _ in range(40)]
        records = [Raw(keys[n % 40], f"record {n}".encode()) for n in range(400)]  # several per key and partition
        positions = await log.append(topics.job_events, records)
        assert [(p.topic, p.partition) for p in positions] == [
            (topics.job_events, partition_of(r.key, settings.topic_partitions)) for r in records]
        back = await read_back(settings, positions)
        assert [(k, v) for k, v, _ in back] == [(r.key, r.body) for r in records]
        assert all(h == {"kind": b"raw"} for _, _, h in back)
        for key in keys[:5]:  # one key's records keep the order they were given in
            offsets = [p.offset for p, r in zip(positions, records, strict=True) if r.key == key]
            assert offsets == sorted(offsets)
    finally:
        await log.stop()


async def test_an_append_larger_than_a_producer_batch_is_split_and_every_position_still_holds(
        broker_settings: Settings) -> None:
    settings, topics, log = await fresh_log(broker_settings)
    try:
        key = str(uuid.uuid4()).encode()
        body = b"x" * 50_000
        count = 3 * PRODUCER_BATCH_BYTES // len(body)  # three batches' worth, all for one partition
        records = [Raw(key, body + str(n).encode()) for n in range(count)]
        positions = await log.append(topics.job_events, records)
        assert len({p.partition for p in positions}) == 1
        assert [p.offset for p in positions] == list(range(positions[0].offset, positions[0].offset + count))
        back = await read_back(settings, [positions[0], positions[count // 2], positions[-1]])
        assert [v for _, v, _ in back] == [records[0].body, records[count // 2].body, records[-1].body]
    finally:
        await log.stop()


async def test_placed_records_land_in_the_partition_their_writer_chose(broker_settings: Settings) -> None:
    settings, topics, log = await fresh_log(broker_settings)
    try:
        key = str(uuid.uuid4()).encode()
        elsewhere = (partition_of(key, settings.topic_partitions) + 1) % settings.topic_partitions
        await log.append_placed([Entry(topics.job_events, elsewhere, key, b"placed"),
                                 Entry(topics.job_events, elsewhere, key, None)])
        consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers, group_id=None,
                                    enable_auto_commit=False, auto_offset_reset="earliest")
        await consumer.start()
        try:
            tp = TopicPartition(topics.job_events, elsewhere)
            consumer.assign([tp])
            messages = (await consumer.getmany(tp, timeout_ms=10_000))[tp]
        finally:
            await consumer.stop()
        assert [(m.key, m.value) for m in messages] == [(key, b"placed"), (key, None)]
    finally:
        await log.stop()


async def test_concurrent_appends_to_one_partition_share_batches_and_each_keeps_its_position(
        broker_settings: Settings) -> None:
    """Before lanes, each of K concurrent appends was a batch of its own and waited K round trips."""
    settings, topics, log = await fresh_log(broker_settings)
    try:
        key = str(uuid.uuid4()).encode()
        records = [Raw(key, f"concurrent {n}".encode()) for n in range(300)]
        before = log.batches_sent
        answered = await asyncio.gather(*(log.append(topics.job_events, [r]) for r in records))
        positions = [p for (p,) in answered]
        assert len({p.partition for p in positions}) == 1
        assert sorted(p.offset for p in positions) == list(range(min(p.offset for p in positions),
                                                                 min(p.offset for p in positions) + 300))
        assert log.batches_sent - before < 30  # 300 appends, far fewer producer batches
        back = await read_back(settings, positions)
        assert [v for _, v, _ in back] == [r.body for r in records]
    finally:
        await log.stop()


async def test_appends_queued_when_the_log_stops_are_still_acknowledged(broker_settings: Settings) -> None:
    settings, topics, log = await fresh_log(broker_settings)
    stopped = False
    try:
        await log.append(topics.job_events, [Raw(b"first", b"learns the topic's partitions")])
        records = [Raw(str(uuid.uuid4()).encode(), f"late {n}".encode()) for n in range(50)]
        appends = [asyncio.create_task(log.append(topics.job_events, [r])) for r in records]
        await asyncio.sleep(0)  # every append has queued its record; none is acknowledged yet
        await log.stop()
        stopped = True
        positions = [p for (p,) in await asyncio.gather(*appends)]
        back = await read_back(settings, positions)
        assert [v for _, v, _ in back] == [r.body for r in records]
    finally:
        if not stopped:
            await log.stop()
