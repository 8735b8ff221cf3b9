"""faust tables whose entries are placed by their key, the way Kafka places the records they come from.

faust writes a table entry to the changelog partition of the event being handled, or, with
``use_partitioner``, asks its producer's partitioner, which fails (``partitions_for_topic`` is
None) until the producer happens to hold metadata for the changelog topic. Owners handle
their records in batches that mix partitions, and an entry must come back after a rebalance
to whichever instance then owns the records it came from. So the partition is computed here,
from the key, exactly as Kafka's default partitioner placed those records:

- ``KeyPartitionedTable``: the whole key is the record key (a job id, a project id);
- ``QueuePartitionedTable``: keys are ``<queue id>/...`` and follow the queue's dispatch records.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import faust

from schemas.packs import partition_of

KEY_SEPARATOR = b"/"


@dataclass(frozen=True)
class ChangelogRecord:
    """A table entry on its way to the table's changelog (a tombstone when ``value`` is None)."""

    topic: str
    partition: int
    key: bytes
    value: bytes | None


def queue_key(queue_id: object, *rest: str) -> bytes:
    return KEY_SEPARATOR.join([str(queue_id).encode(), *(part.encode() for part in rest)])


class KeyPartitionedTable(faust.Table):  # type: ignore[misc]
    def record_key(self, key: bytes) -> bytes:
        """The key of the records this entry comes from."""
        return key

    def partition_for_key(self, key: Any) -> int | None:
        return partition_of(self.record_key(bytes(key)), self.partitions)

    def write_many(self, entries: Mapping[bytes, bytes | None]) -> list[ChangelogRecord]:
        """Set (or, with None, delete) entries in the store now, and return the changelog records that
        make them durable, for the caller to append and await with the rest of its batch.

        ``table[key] = value`` sends each entry through faust's producer on its own (a future, a
        buffer entry and a task per write): with two or three writes per job in each of two tables,
        that was a tenth of the stream processors' time. The memory store keeps no offsets, so a
        changelog record written this way restores exactly like one faust wrote.
        """
        topic = self.changelog_topic.get_topic_name()
        records = []
        for key, value in entries.items():
            if value is None:
                if self.data.pop(key, None) is None:
                    continue  # nothing to delete, nothing to tell the changelog
            else:
                self.data[key] = value
            records.append(ChangelogRecord(topic, self.partition_for_key(key), key, value))
        return records


class QueuePartitionedTable(KeyPartitionedTable):
    def record_key(self, key: bytes) -> bytes:
        return key.split(KEY_SEPARATOR, 1)[0]


def add_table(app: faust.App, cls: type[KeyPartitionedTable], name: str, partitions: int) -> KeyPartitionedTable:
    """Register a table of raw bytes with the app, as ``app.Table`` would."""
    return app.tables.add(cls(app, name=name, beacon=app.tables.beacon, partitions=partitions,
                              key_type=bytes, value_type=bytes))
