"""Many small messages in one Kafka record: the wire format of commands, notices and replies.

The broker, aiokafka and faust each pay per record, not per byte: a produce entry, a fetch
entry, and in faust two tasks and a table lookup for every record delivered to an agent.
Commands to job owners, owners' notices to dispatchers and replies to the API were more than
half of the ~19 records a job cost, each delivered one at a time. They are instructions
written in bursts (a batch submission, a dispatch tick, an owner's decided batch), so the
ones bound for the same partition travel together, as one record holding a JSON array.

Job events are not packed: they are the history, read record by record by the projector,
replay and anyone else, each with its own offset.

Order is kept within a partition (a job's commands stay in the order they were written),
and a pack's key is its first message's key, so Kafka's default partitioner puts the pack
in the partition every message in it would have gone to on its own.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from producers.event_log import Publishable

PACK_BYTES = 256 * 1024
"""A pack closes before it would pass this; a single larger message travels alone (the
payload limit keeps it under the broker's 1 MiB record limit)."""


_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 (``org.apache.kafka.common.utils.Utils.murmur2``), a word at a time.

    aiokafka's pure-Python version reads the key byte by byte; it was 6% of the stream
    processors' time, since every record and every table entry is placed by its key.
    """
    length = len(data)
    h = (0x9747B28C ^ length) & _MASK
    whole = length & ~3
    for (k,) in struct.iter_unpack("<I", data[:whole]):
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    extra = length & 3
    if extra >= 3:
        h ^= data[whole + 2] << 16
    if extra >= 2:
        h ^= data[whole + 1] << 8
    if extra >= 1:
        h ^= data[whole]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h


@functools.lru_cache(maxsize=1 << 16)
def partition_of(key: bytes, partitions: int) -> int:
    """Kafka's default partitioner (murmur2, positive, modulo), as producers place keyed records.

    Cached: a job's key is placed again for each of its commands, events and table writes.
    """
    return (murmur2(key) & 0x7FFFFFFF) % partitions


@dataclass(frozen=True)
class Pack:
    """A record of already-encoded JSON documents bound for one partition."""

    key: bytes
    items: tuple[bytes, ...]
    # the records the items were encoded from, for a sender that uses them after the append (a hand-over)
    sources: tuple[Publishable, ...] = field(default=(), compare=False, repr=False)

    def headers(self) -> list[tuple[str, bytes]]:
        return [("pack", str(len(self.items)).encode())]

    def encoded(self) -> bytes:
        return b"[" + b",".join(self.items) + b"]"


def packed(records: Sequence[Publishable], partitions: int, limit: int = PACK_BYTES) -> list[Pack]:
    """The records, grouped by the partition their keys pick, in packs of at most ``limit`` bytes.

    ``partitions=1`` packs everything together whatever the keys (replies, which every API process
    reads from every partition), without hashing a key per message.
    """
    open_packs: dict[int, list[bytes]] = {}  # partition -> the encoded messages of its open pack
    open_sources: dict[int, list[Publishable]] = {}  # partition -> the messages themselves
    sizes: dict[int, int] = {}  # partition -> the open pack's encoded size
    keys: dict[int, bytes] = {}  # partition -> the open pack's key (its first message's)
    done: list[Pack] = []
    for record in records:
        body = record.encoded()
        partition = partition_of(record.key, partitions) if partitions > 1 else 0
        if partition in open_packs and sizes[partition] + len(body) + 1 > limit:
            done.append(Pack(keys[partition], tuple(open_packs.pop(partition)), tuple(open_sources.pop(partition))))
        if partition not in open_packs:
            open_packs[partition], open_sources[partition], sizes[partition], keys[partition] = [], [], 1, record.key
        open_packs[partition].append(body)
        open_sources[partition].append(record)
        sizes[partition] += len(body) + 1
    done.extend(Pack(keys[partition], tuple(items), tuple(open_sources[partition]))
                for partition, items in open_packs.items())
    return done


def unpacked(value: bytes) -> list[Any]:
    """The documents a record carries: a pack's, or the one of a plain record.

    Raises ``orjson.JSONDecodeError`` when the record is not JSON at all.
    """
    doc = orjson.loads(value)
    return doc if isinstance(doc, list) else [doc]
