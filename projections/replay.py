"""The audit replay: drop the read models and rebuild them from offset zero of every projected topic.

The read models are disposable (ARCHITECTURE.md §4): rebuilt from the same log they must hold
exactly the same rows, which ``table_checksums`` lets anyone check. With embedded chdb only
one process may open the data directory, so the API (which runs the projector) is stopped
first; against a ClickHouse server, stop the API replicas' projectors before replaying.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from producers.topics import Topics
from projections.projector import Projector
from projections.schema import TABLES, create_tables, drop_tables, ensure_schema
from projections.store import ClickHouseStore
from taskforge.gc_pauses import collect_on_schedule
from taskforge.settings import Settings

# The tables whose rows are a function of the log alone (the offsets table holds write times).
CHECKED_TABLES = tuple(name for name in TABLES if name != "projector_offsets")
# key-value tables hold one row per key already, and take no FINAL
_UNMERGED = frozenset({"jobs_by_id"})
PROGRESS_INTERVAL_SECONDS = 0.5


@dataclass(frozen=True)
class ReplayProgress:
    events: int
    total: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class ReplayResult:
    events: int
    seconds: float
    rows: dict[str, int]


async def table_checksums(store: ClickHouseStore) -> dict[str, tuple[int, int]]:
    """(rows, order-independent hash of all rows) per table, deduplicated as queries see them (FINAL)."""
    sums = {}
    for table in CHECKED_TABLES:
        final = "" if table in _UNMERGED else " FINAL"
        row = (await store.query(
            f"SELECT count() AS n, groupBitXor(cityHash64(toString(tuple(*)))) AS h FROM {table}{final}"))[0]
        sums[table] = (int(row["n"]), int(row["h"]))
    return sums


async def replay(settings: Settings, store: ClickHouseStore, report: Callable[[ReplayProgress], None]) -> ReplayResult:
    """Rebuild every read model from offset zero, up to the log's end as it stood when the replay began."""
    await ensure_schema(store)
    await drop_tables(store)
    await create_tables(store)
    projector = Projector(settings, store, Topics.from_settings(settings))
    began = time.monotonic()
    collections = collect_on_schedule()  # the replay is one long catch-up: see taskforge/gc_pauses.py
    await projector.start()
    try:
        targets = await projector.tail.end_offsets()
        total = sum(targets.values())
        while not await projector.tail.wait_for(targets, PROGRESS_INTERVAL_SECONDS):
            report(ReplayProgress(projector.events_written, total, time.monotonic() - began))
        report(ReplayProgress(projector.events_written, total, time.monotonic() - began))
    finally:
        collections.cancel()
        await projector.stop()
    seconds = time.monotonic() - began
    rows = {table: n for table, (n, _) in (await table_checksums(store)).items()}
    return ReplayResult(events=projector.events_written, seconds=seconds, rows=rows)


def progress_line(progress: ReplayProgress, width: int = 30) -> str:
    done = progress.events / progress.total if progress.total else 1.0
    bar = "#" * int(done * width)
    return (f"\r[{bar:<{width}}] {progress.events:,}/{progress.total:,} records "
            f"{progress.rate:,.0f} events/s {progress.seconds:.1f}s")


async def run_replay(settings: Settings, write: Callable[[str], None]) -> ReplayResult:
    """``taskforge replay``: open the store, replay with a progress bar, print the final counts."""
    store = ClickHouseStore(settings)
    await store.open()
    try:
        result = await replay(settings, store, lambda p: write(progress_line(p)))
    finally:
        await store.close()
    write(f"\nreplayed {result.events:,} events in {result.seconds:.1f}s "
          f"({result.events / result.seconds if result.seconds else 0:,.0f} events/s)\n")
    for table, rows in result.rows.items():
        write(f"  {table}: {rows:,} rows\n")
    return result


def main_replay(settings: Settings, write: Callable[[str], None]) -> int:
    asyncio.run(run_replay(settings, write))
    return 0
