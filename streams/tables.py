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

from typing import Any

import faust
from schemas.packs import partition_of

KEY_SEPARATOR = b"/"


def queue_key(queue_id: object, *rest: str) -> bytes:
    return KEY_SEPARATOR.join([str(queue_id).encode(), *(part.encode() for part in rest)])


class KeyPartitionedTable(faust.Table):  # type: ignore[misc]
    def record_key(self, key: bytes) -> bytes:
        """The key of the records this entry comes from."""
        return key

    def partition_for_key(self, key: Any) -> int | None:
        return partition_of(self.record_key(bytes(key)), self.partitions)


class QueuePartitionedTable(KeyPartitionedTable):
    def record_key(self, key: bytes) -> bytes:
        return key.split(KEY_SEPARATOR, 1)[0]


def add_table(app: faust.App, cls: type[KeyPartitionedTable], name: str, partitions: int) -> KeyPartitionedTable:
    """Register a table of raw bytes with the app, as ``app.Table`` would."""
    return app.tables.add(cls(app, name=name, beacon=app.tables.beacon, partitions=partitions,
                              key_type=bytes, value_type=bytes))
