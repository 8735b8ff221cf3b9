"""``TASKFORGE_STREAMS_NICENESS``: every thread of ``taskforge streams`` runs at it, the consumer's included.

Set on the main thread before any other starts (``taskforge.niceness``). A positive value, which needs no
privileges, so that the test runs as any user; a negative one takes the same path."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from taskforge.settings import Settings
from tests.support import StreamsProcess, scoped_settings, stable_members, wait_sync

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not sys.platform.startswith("linux"), reason="nice values are per thread on Linux")]


def thread_niceness(pid: int) -> dict[str, int]:
    found = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
        found[tid] = int(stat.rsplit(")", 1)[1].split()[16])
    return found


def test_every_thread_of_the_stream_processors_runs_at_the_configured_niceness(broker_settings: Settings,
                                                                                  tmp_path: Path) -> None:
    settings = scoped_settings(tmp_path, broker_settings.kafka_port, broker_settings.kafka_controller_port,
                               clickhouse_url=None, streams_niceness=6)
    streams = StreamsProcess(settings, tmp_path / "streams.log")
    streams.start()
    try:
        wait_sync(lambda: stable_members(settings) == 1, timeout=90, interval=0.5)  # consuming: all threads up
        streams.assert_alive()
        niceness = thread_niceness(streams.process.pid)
        assert len(niceness) >= 2, niceness  # the main thread and faust's consumer thread (started later)
        assert set(niceness.values()) == {6}, niceness
        assert os.getpriority(os.PRIO_PROCESS, 0) != 6, "the test's own process is not what was measured"
    finally:
        streams.stop()
