"""Write the log into ClickHouse, batch by batch, and remember how far it got.

A batch's rows are inserted (its tables concurrently) before the follower's position
moves, so a reader released by the barrier sees them. The offsets the projector resumes
from are written after the rows they cover, on a short interval rather than per batch:
they are only a resume hint, because every table is idempotent under re-insertion. A
crash therefore re-reads at most one interval's worth of records and changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

from aiokafka import TopicPartition

from producers.topics import Topics
from projections.rows import COLUMNS, LogRecord, rows_for
from projections.schema import create_tables
from projections.store import ClickHouseStore
from projections.tail import TopicTail
from taskforge.settings import Settings

log = logging.getLogger(__name__)

OFFSETS_INTERVAL_SECONDS = 0.5
_OFFSET_COLUMNS = ("topic", "partition", "next_offset", "written_at")


class Projector:
    def __init__(self, settings: Settings, store: ClickHouseStore, topics: Topics) -> None:
        self._store = store
        self.tail = TopicTail(settings, topics.projected, self._write, name="projector")
        self.events_written = 0
        self._unsaved: dict[TopicPartition, int] = {}
        self._saver: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await create_tables(self._store)
        await self.tail.start(await self._stored_positions())
        self._saver = asyncio.get_running_loop().create_task(self._save_offsets_periodically())

    async def _stored_positions(self) -> dict[TopicPartition, int]:
        rows = await self._store.query(
            "SELECT topic, partition, max(next_offset) AS next_offset FROM projector_offsets GROUP BY topic, partition"
        )
        return {TopicPartition(r["topic"], r["partition"]): r["next_offset"] for r in rows}

    async def _write(self, records: list[LogRecord], next_positions: dict[TopicPartition, int]) -> None:
        await asyncio.gather(
            *(self._store.insert(table, rows, COLUMNS[table]) for table, rows in rows_for(records).items())
        )
        self._unsaved.update(next_positions)
        self.events_written += len(records)

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
