"""The job rows the projector wrote last, kept so that the next events of a job need no read.

A job's events arrive close together (submitted, leased, succeeded within seconds), so the rows
written most recently are the ones the next batches touch. The cache is bounded and drops the
least recently written rows first: dropping all of it at once, as it did before, turned every job
in flight into a ClickHouse lookup in the same batch, a stall of the whole projector.

Rows are kept packed, as tuples of plain values with the ids as integers, because the garbage
collector walks every container object that can hold a reference to another (a dict, a UUID) in
each full pass, and it stops the process while it does. Two hundred thousand rows as dicts of
UUIDs were 1.2 million such objects: about a second per full pass, one pass every few seconds
while catching up. A tuple of ints, strings and datetimes is untracked once the collector has
seen it, so the cache costs the collector nothing.
"""

from __future__ import annotations

import itertools
import uuid
from typing import Any

from projections.rows import JOB_COLUMNS, Row, job_values

_UUID_COLUMNS = frozenset({"organization_id", "project_id", "id", "queue_id", "worker_id"})
_UUID_AT = tuple(index for index, column in enumerate(JOB_COLUMNS) if column in _UUID_COLUMNS)

Packed = tuple[Any, ...]


def pack(row: Row) -> Packed:
    """A job row as a tuple in ``JOB_COLUMNS`` order, ids as integers."""
    values = list(job_values(row))
    for index in _UUID_AT:
        if (value := values[index]) is not None:
            values[index] = value.int
    return tuple(values)


def unpack(packed: Packed) -> Row:
    row = dict(zip(JOB_COLUMNS, packed, strict=True))
    for index in _UUID_AT:
        if (value := packed[index]) is not None:
            row[JOB_COLUMNS[index]] = uuid.UUID(int=value)
    return row


class RecentRows:
    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._rows: dict[int, Packed] = {}  # by job id as an integer; insertion order is write order

    def get(self, job_id: uuid.UUID) -> Row | None:
        packed = self._rows.get(job_id.int)
        return unpack(packed) if packed is not None else None

    def remember(self, changed: dict[uuid.UUID, Row]) -> None:
        """Keep the rows a batch wrote as the newest; past the limit the least recently written go."""
        for job_id, row in changed.items():
            self._rows.pop(job_id.int, None)
            self._rows[job_id.int] = pack(row)
        if (excess := len(self._rows) - self._limit) > 0:
            for key in list(itertools.islice(self._rows, excess)):
                del self._rows[key]

    def clear(self) -> None:
        self._rows.clear()

    def __len__(self) -> int:
        return len(self._rows)
