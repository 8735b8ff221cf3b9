"""Opening the store does the client library's one-time work, so the first insert of a process does not.

clickhouse-connect imports pandas on the first insert (to ask whether the rows are a DataFrame): ~0.3-0.6 s
holding the interpreter lock, which stalled every request of the API and the projector's first batch after
each start. Checked in a fresh interpreter, since any earlier insert in this test process has done it already.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

_FIRST_INSERT = textwrap.dedent("""
    import asyncio, json, sys, uuid
    from projections.store import ClickHouseStore
    from taskforge.settings import Settings

    async def main() -> None:
        store = ClickHouseStore(Settings(clickhouse_url=sys.argv[1]), database="warm")
        await store.open()
        await store.command("CREATE TABLE t (id UUID, v String) ENGINE = MergeTree ORDER BY id")
        before = set(sys.modules)
        await store.insert("t", [(uuid.uuid4(), "x")], ["id", "v"])
        imported = sorted(set(sys.modules) - before)
        rows = await store.scalar("SELECT count() FROM t")
        await store.close()
        print(json.dumps({"imported": imported, "rows": rows}))

    asyncio.run(main())
""")


def test_the_first_insert_of_a_process_imports_nothing(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", _FIRST_INSERT, f"chdb://{tmp_path / 'clickhouse'}"],
                          capture_output=True, text=True, timeout=120, check=True, cwd=Path(__file__).parents[2])
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome["rows"] == 1
    assert outcome["imported"] == []


_THREAD_NICENESS = textwrap.dedent("""
    import asyncio, json, os, sys, uuid
    from projections.store import ClickHouseStore
    from taskforge.settings import Settings

    def niceness() -> dict[str, list[int]]:
        found: dict[str, list[int]] = {}
        for tid in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{tid}/stat") as stat, open(f"/proc/self/task/{tid}/comm") as comm:
                nice = int(stat.read().rsplit(")", 1)[1].split()[16])
                found.setdefault(f"{tid}:{comm.read().strip()}", []).append(nice)
        return found

    async def main() -> None:
        before = niceness()
        store = ClickHouseStore(Settings(clickhouse_url=sys.argv[1], clickhouse_thread_niceness=7), database="nice")
        await store.open()
        await store.command("CREATE TABLE t (id UUID, v String) ENGINE = MergeTree ORDER BY id")
        for _ in range(5):
            await store.insert("t", [(uuid.uuid4(), "x")], ["id", "v"])
        after = niceness()
        await store.close()
        main_thread = f"{os.getpid()}:"
        print(json.dumps({"main": [v for k, v in after.items() if k.startswith(main_thread)][0][0],
                          "started": {k: v[0] for k, v in after.items() if k not in before}}))

    asyncio.run(main())
""")


def test_clickhouse_threads_give_way_to_the_event_loop(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", _THREAD_NICENESS, f"chdb://{tmp_path / 'clickhouse'}"],
                          capture_output=True, text=True, timeout=120, check=True, cwd=Path(__file__).parents[2])
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome["main"] == 0  # the event loop's thread keeps its priority
    started = outcome["started"]
    assert len(started) >= 3  # the store's pool and the engine's own threads
    # every thread the store started, and every thread ClickHouse started from them, runs at the setting's
    # niceness; ClickHouse's memory worker sets its own priority
    assert {name: nice for name, nice in started.items() if not name.endswith(":MemoryWorker")} == {
        name: 7 for name in started if not name.endswith(":MemoryWorker")}
