"""Table entries are placed where Kafka's default partitioner puts the records they come from."""

from __future__ import annotations

import uuid

import faust
from aiokafka.partitioner import DefaultPartitioner

from streams.tables import KeyPartitionedTable, QueuePartitionedTable, add_table, queue_key

PARTITIONS = list(range(6))


def kafka_partition(key: bytes) -> int:
    return DefaultPartitioner()(key, PARTITIONS, PARTITIONS)


def app() -> faust.App:
    return faust.App(f"tables-{uuid.uuid4().hex[:6]}", broker="kafka://127.0.0.1:1", store="memory://")  # never started


def test_job_entries_go_to_the_partition_of_their_jobs_commands() -> None:
    table = add_table(app(), KeyPartitionedTable, "jobs", len(PARTITIONS))
    seen = set()
    for _ in range(200):
        key = str(uuid.uuid4()).encode()
        assert table.partition_for_key(key) == kafka_partition(key)
        seen.add(table.partition_for_key(key))
    assert seen == set(PARTITIONS), "keys spread over every partition"


def test_dispatch_entries_follow_their_queue_to_its_partition() -> None:
    table = add_table(app(), QueuePartitionedTable, "dispatch", len(PARTITIONS))
    for _ in range(200):
        queue_id = uuid.uuid4()
        expected = kafka_partition(str(queue_id).encode())
        for key in (queue_key(queue_id, "job", str(uuid.uuid4())), queue_key(queue_id, "queue")):
            assert table.partition_for_key(key) == expected


def test_write_many_sets_the_store_and_returns_each_entrys_changelog_record_in_its_partition() -> None:
    table = add_table(app(), QueuePartitionedTable, "dispatch", len(PARTITIONS))
    queue = uuid.uuid4()
    kept, dropped, never = (queue_key(queue, "job", str(uuid.uuid4())) for _ in range(3))
    first = table.write_many({kept: b"k", dropped: b"d"})
    assert (table.data[kept], table.data[dropped]) == (b"k", b"d")
    assert {(r.key, r.value) for r in first} == {(kept, b"k"), (dropped, b"d")}
    assert {r.partition for r in first} == {kafka_partition(str(queue).encode())}, "the queue's partition"
    assert {r.topic for r in first} == {table.changelog_topic.get_topic_name()}

    second = table.write_many({dropped: None, never: None})
    assert dropped not in table.data and kept in table.data
    assert [(r.key, r.value) for r in second] == [(dropped, None)], "a tombstone only for what was there"
