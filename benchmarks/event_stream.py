"""Millions of realistic job events, fast enough to put ten million through Kafka in minutes.

The owners' pure rules (``tests.generated_log``) make about 3,500 events a second in Python:
ten million would take most of an hour. So they make one *template block* (a few thousand job
lives: retries, expiries, cancellations, dead letters, manual retries) and the block is
stamped out again and again. Each copy gets fresh ids for everything that names a job, an
event, a lease or a command, and its times moved on by the block's span, so every copy is a
log the owners could have written. The tenant, the queues and the worker stay the same.

Stamping works on the encoded bytes: each template record is cut once at every id and time
it holds, and a copy is the pieces joined with that copy's values.
"""

from __future__ import annotations

import random
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import orjson

from schemas.envelope import EventEnvelope, Tenant
from tests.generated_log import GeneratedQueue, job_lives

_UUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_TIME = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?\+00:00")
_SLOT = re.compile(_UUID.pattern + b"|" + _TIME.pattern)


@dataclass(frozen=True)
class StampedEvent:
    """One record ready for ``KafkaEventLog.append`` (the ``Publishable`` shape)."""

    key: bytes
    value: bytes
    header_values: tuple[bytes, bytes, bytes]

    def headers(self) -> list[tuple[str, bytes]]:
        event_type, version, event_id = self.header_values
        return [("event_type", event_type), ("schema_version", version), ("event_id", event_id)]

    def encoded(self) -> bytes:
        return self.value


@dataclass
class _Template:
    """A record cut at its ids and times: literal pieces between the slots."""

    pieces: list[bytes]
    slots: list[bytes]
    key: bytes
    event_type: bytes
    version: bytes
    event_id: bytes


@dataclass
class TemplateBlock:
    """A block of job lives that ``copies`` stamps out with fresh ids and later times."""

    records: list[_Template]
    span: timedelta
    kept: frozenset[bytes]
    times: dict[bytes, datetime] = field(default_factory=dict)

    @classmethod
    def build(cls, tenant: Tenant, work: GeneratedQueue, dead: GeneratedQueue, jobs: int, start: datetime,
              seed: int = 7) -> TemplateBlock:
        events: list[EventEnvelope] = list(job_lives(tenant, work, dead, jobs, seed=seed, start=start))
        worker_ids = {str(getattr(e.data, "worker_id", "") or "").encode() for e in events} - {b""}
        kept = frozenset({str(tenant.organization_id).encode(), str(tenant.project_id).encode(),
                          str(work.queue_id).encode(), str(dead.queue_id).encode(), *worker_ids})
        records, times = [], {}
        for event in events:
            raw = event.encoded()
            pieces, slots, last = [], [], 0
            for match in _SLOT.finditer(raw):
                pieces.append(raw[last:match.start()])
                slots.append(match.group())
                if _TIME.fullmatch(match.group()):
                    times[match.group()] = datetime.fromisoformat(match.group().decode())
                last = match.end()
            pieces.append(raw[last:])
            records.append(_Template(pieces, slots, event.key, event.event_type.encode(),
                                     str(event.schema_version).encode(), str(event.event_id).encode()))
        return cls(records=records, span=timedelta(seconds=jobs), kept=kept, times=times)

    def copies(self, count: int, rng: random.Random) -> Iterator[list[StampedEvent]]:
        """``count`` copies, each a list of records in the order the owners would append them."""
        for n in range(count):
            yield self.copy(n, rng)

    def copy(self, n: int, rng: random.Random) -> list[StampedEvent]:
        shift = self.span * n
        values: dict[bytes, bytes] = {raw: orjson.dumps(at + shift)[1:-1] for raw, at in self.times.items()}
        out = []
        for record in self.records:
            parts: list[bytes] = []
            for piece, slot in zip(record.pieces, record.slots, strict=False):
                parts.append(piece)
                value = values.get(slot)
                if value is None:
                    value = slot if slot in self.kept else str(uuid.UUID(int=rng.getrandbits(128), version=4)).encode()
                    values[slot] = value
                parts.append(value)
            parts.append(record.pieces[-1])
            out.append(StampedEvent(key=values.get(record.key, record.key), value=b"".join(parts),
                                    header_values=(record.event_type, record.version, values[record.event_id])))
        return out

    def __len__(self) -> int:
        return len(self.records)
