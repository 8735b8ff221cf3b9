"""Write the log into ClickHouse, batch by batch, and remember how far it got.

A batch's rows are inserted (its tables concurrently) before the follower's position
moves, so a reader released by the barrier sees them. Job rows are read-modify-write:
the projector is their only writer, keeps the rows it wrote in memory, and loads the
others once per batch (one query per tenant). The cache changes only after an insert
succeeded and is dropped when one fails, so a retried batch is computed afresh from what
is stored: the cancel rows of the collapsing jobs table must match the stored rows exactly.

A batch's tables are separate inserts, so a crash can land some and lose others. Every table
but ``jobs`` absorbs a second copy of a row; ``jobs`` is read back before it is written, so a
re-read batch writes there only what is missing. Its copies ``jobs_by_time`` and ``jobs_by_id``
are kept whole by *restating*: for records that an earlier run may have written (below the
horizon), each touched job's row is written there again, changed or not.

The offsets the projector resumes from are written after the rows they cover, on a short
interval rather than per batch: they are only a resume hint, because every table is
idempotent under re-insertion. A crash re-reads at most one interval's worth of records
and changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime

from aiokafka import TopicPartition

from producers.topics import Topics
from projections.recent_rows import RecentRows
from projections.rows import (
    COLUMNS, JOB_COLUMNS, LogRecord, Row, is_job_event, live_job_rows, may_change_job_row, rows_for,
)
from projections.schema import ensure_schema
from projections.store import ClickHouseStore
from projections.tail import TopicTail
from schemas.job import JobSubmitted
from taskforge.gc_pauses import PAUSES
from taskforge.settings import Settings

log = logging.getLogger(__name__)

OFFSETS_INTERVAL_SECONDS = 0.5
# a batch that is not full (the projector is at the log's end) and slower than this is a stall: it holds
# up every read that waits at the barrier, so it is logged with where its time went
SLOW_BATCH_SECONDS = 0.5
ROW_CACHE_LIMIT = 200_000
_OFFSET_COLUMNS = ("topic", "partition", "next_offset", "written_at")


def _as_utc(row: Row) -> Row:
    """ClickHouse hands back UTC times without tzinfo; rows are written back, so make them explicit."""
    return {k: v.replace(tzinfo=UTC) if isinstance(v, datetime) and v.tzinfo is None else v for k, v in row.items()}


class Projector:
    def __init__(self, settings: Settings, store: ClickHouseStore, topics: Topics) -> None:
        self._store = store
        self.tail = TopicTail(settings, topics.projected, self._write, name="projector",
                              min_batch_interval=settings.projector_min_batch_interval_ms / 1000)
        self.events_written = 0
        self._rows = RecentRows(ROW_CACHE_LIMIT)
        self._unsaved: dict[TopicPartition, int] = {}
        self._saver: asyncio.Task[None] | None = None
        self._fresh_from: dict[TopicPartition, int] | None = None
        self._full_batch = settings.projector_max_batch

    async def start(self) -> None:
        if await ensure_schema(self._store):
            log.warning("projector: read models were of another schema version; rebuilding them from offset zero")
        await self.tail.start(await self._stored_positions())
        self._saver = asyncio.get_running_loop().create_task(self._save_offsets_periodically())

    async def _stored_positions(self) -> dict[TopicPartition, int]:
        rows = await self._store.query(
            "SELECT topic, partition, max(next_offset) AS next_offset FROM projector_offsets GROUP BY topic, partition"
        )
        return {TopicPartition(r["topic"], r["partition"]): r["next_offset"] for r in rows}

    async def _horizon(self) -> dict[TopicPartition, int]:
        """Where records start that no earlier run can have projected.

        A submission below it may already be stored (a restart re-reads up to an offsets interval;
        a failed batch is retried), so its row is loaded like any other; above it, the job is new
        and the lookup is skipped. Empty tables mean nothing was projected: no horizon at all.
        """
        if self._fresh_from is None:
            empty = not await self._store.scalar("SELECT count() FROM jobs")
            self._fresh_from = {} if empty else await self.tail.end_offsets()
        return self._fresh_from

    async def _current_rows(self, records: list[LogRecord], created: set[uuid.UUID]) -> dict[uuid.UUID, Row]:
        """The stored rows of the jobs this batch touches, except those it creates: from the cache, the rest
        from ClickHouse (one query per tenant)."""
        current: dict[uuid.UUID, Row] = {}
        wanted: dict[tuple[uuid.UUID, uuid.UUID], set[uuid.UUID]] = defaultdict(set)
        for record in records:
            job_id = record.envelope.aggregate_id
            # an archive comes a day after the job's last change, its row long gone from the cache: not looked up
            if not may_change_job_row(record) or job_id in current or job_id in created:
                continue
            if (cached := self._rows.get(job_id)) is not None:
                current[job_id] = cached
            else:
                wanted[(record.envelope.organization_id, record.envelope.project_id)].add(job_id)
        for (org, project), ids in wanted.items():
            rows = await self._store.query(
                f"SELECT {', '.join(JOB_COLUMNS)}, sign FROM jobs WHERE organization_id = {{org:UUID}} "
                "AND project_id = {project:UUID} AND id IN {ids:Array(UUID)}",
                {"org": org, "project": project, "ids": list(ids)},
            )
            current.update({job_id: _as_utc(row) for job_id, row in live_job_rows(rows).items()})
        return current

    async def _write(self, records: list[LogRecord], next_positions: dict[TopicPartition, int]) -> None:
        horizon = await self._horizon()

        def below_horizon(r: LogRecord) -> bool:
            return r.offset < horizon.get(TopicPartition(r.topic, r.partition), 0)

        created = {r.envelope.aggregate_id for r in records
                   if isinstance(r.envelope.data, JobSubmitted) and not below_horizon(r)}
        # Below the horizon an earlier run may have stored a job's row and died before its copies (the
        # tables are separate inserts), so those jobs' rows are written there again.
        restated = {r.envelope.aggregate_id for r in records if is_job_event(r) and below_horizon(r)}
        began, began_cpu, gc_before = time.perf_counter(), time.thread_time(), PAUSES.total_seconds
        current = await self._current_rows(records, created)
        looked_up, looked_up_cpu = time.perf_counter(), time.thread_time()
        tables, changed = rows_for(records, current, restated)
        mapped, mapped_cpu = time.perf_counter(), time.thread_time()
        try:
            inserts = await asyncio.gather(*(self._timed_insert(table, rows) for table, rows in tables.items()))
        except BaseException:
            # Some of the inserts may have landed. The retry must cancel exactly the rows that are now
            # stored, so it reads them from ClickHouse rather than trusting this cache.
            self._rows.clear()
            if self._fresh_from is not None:
                self._fresh_from.update(next_positions)
            raise
        if (took := time.perf_counter() - began) > SLOW_BATCH_SECONDS and len(records) < self._full_batch:
            # the event loop thread's own CPU time and the collector's pauses tell a batch that was
            # working from one that waited (for the GIL, for a core, or for the collector)
            log.warning("projector: a batch of %d records took %.0f ms (lookup %.0f, rows %.0f, inserts %s; "
                        "loop thread CPU %.0f ms, of it rows %.0f; gc pauses %.0f ms)",
                        len(records), took * 1000, (looked_up - began) * 1000, (mapped - looked_up) * 1000,
                        ", ".join(f"{t} {n} rows {ms:.0f} ms" for t, n, ms in inserts),
                        (time.thread_time() - began_cpu) * 1000, (mapped_cpu - looked_up_cpu) * 1000,
                        (PAUSES.total_seconds - gc_before) * 1000)
        self._rows.remember(changed)
        self._unsaved.update(next_positions)
        self.events_written += len(records)

    async def _timed_insert(self, table: str, rows: list[tuple[object, ...]]) -> tuple[str, int, float]:
        """Insert, and say how long it took (table, rows, ms), for the slow-batch log line."""
        began = time.perf_counter()
        await self._store.insert(table, rows, COLUMNS[table])
        return table, len(rows), (time.perf_counter() - began) * 1000

    async def save_offsets(self) -> None:
        """Record how far the rows go. Only positions whose rows are already written are ever here."""
        if not self._unsaved:
            return
        unsaved, self._unsaved = self._unsaved, {}
        now = datetime.now(UTC)
        try:
            await self._store.insert(
                "projector_offsets", [(tp.topic, tp.partition, offset, now) for tp, offset in unsaved.items()],
                _OFFSET_COLUMNS,
            )
        except BaseException:
            for tp, offset in unsaved.items():  # keep them for the next attempt, unless newer ones arrived
                self._unsaved.setdefault(tp, offset)
            raise

    async def _save_offsets_periodically(self) -> None:
        while True:
            await asyncio.sleep(OFFSETS_INTERVAL_SECONDS)
            try:
                await self.save_offsets()
            except asyncio.CancelledError:
                raise
            except Exception:  # a failing write is retried next interval; rows stay correct meanwhile
                log.exception("projector: saving offsets failed; will retry")

    async def stop(self) -> None:
        await self.tail.stop()
        if self._saver is not None:
            self._saver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._saver
        await self.save_offsets()
