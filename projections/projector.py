"""Write the log into ClickHouse, batch by batch, and remember how far it got.

Rows first, then the offsets they came from: a crash between the two re-reads a batch
whose rows are already there, and the ReplacingMergeTree tables absorb the repeat. So a
restart neither loses nor duplicates rows.
"""

from __future__ import annotations

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


class Projector:
    def __init__(self, settings: Settings, store: ClickHouseStore, topics: Topics) -> None:
        self._store = store
        self.tail = TopicTail(settings, topics.projected, self._write, name="projector")
        self.events_written = 0

    async def start(self) -> None:
        await create_tables(self._store)
        await self.tail.start(await self._stored_positions())

    async def _stored_positions(self) -> dict[TopicPartition, int]:
        rows = await self._store.query(
            "SELECT topic, partition, max(next_offset) AS next_offset FROM projector_offsets GROUP BY topic, partition"
        )
        return {TopicPartition(r["topic"], r["partition"]): r["next_offset"] for r in rows}

    async def _write(self, records: list[LogRecord], next_positions: dict[TopicPartition, int]) -> None:
        for table, rows in rows_for(records).items():
            await self._store.insert(table, rows, COLUMNS[table])
        now = datetime.now(UTC)
        await self._store.insert(
            "projector_offsets",
            [(tp.topic, tp.partition, offset, now) for tp, offset in next_positions.items()],
            ("topic", "partition", "next_offset", "written_at"),
        )
        self.events_written += len(records)

    async def stop(self) -> None:
        await self.tail.stop()
