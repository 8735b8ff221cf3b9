"""The job rows the projector wrote last, kept so that the next events of a job need no read.

A job's events arrive close together (submitted, leased, succeeded within seconds), so the rows
written most recently are the ones the next batches touch. The cache is bounded and drops the
least recently written rows first: dropping all of it at once, as it did before, turned every job
in flight into a ClickHouse lookup in the same batch, a stall of the whole projector.
"""

from __future__ import annotations

import itertools
import uuid

from projections.rows import Row


class RecentRows:
    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._rows: dict[uuid.UUID, Row] = {}  # insertion order is write order: oldest first

    def get(self, job_id: uuid.UUID) -> Row | None:
        return self._rows.get(job_id)

    def remember(self, changed: dict[uuid.UUID, Row]) -> None:
        """Keep the rows a batch wrote as the newest; past the limit the least recently written go."""
        for job_id, row in changed.items():
            self._rows.pop(job_id, None)
            self._rows[job_id] = row
        if (excess := len(self._rows) - self._limit) > 0:
            for job_id in list(itertools.islice(self._rows, excess)):
                del self._rows[job_id]

    def clear(self) -> None:
        self._rows.clear()

    def __len__(self) -> int:
        return len(self._rows)
