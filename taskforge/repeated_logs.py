"""One line per kind of log record per window, for the Kafka client's reconnect errors.

With the broker gone, aiokafka logs every failed metadata refresh and reconnect at ERROR: an idle API
wrote ~200 lines a second ("Unable to update metadata from [1]", "Unable connect to node with id 1"),
8,260 lines in 40 s (``docs/figures.md``, fifth session). A log that floods hides the first line, the one
that says what happened, and costs the process CPU and the disk space while the outage lasts. Here the
first record of each kind passes; the others of the same kind within the window are counted, and the
next one that passes says how many were left out. A kind is the logger, the level and the message's
template (``record.msg``, before its arguments are filled in).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

KAFKA_CLIENT_LOGGER = "aiokafka"  # where aiokafka's client logs its connection and metadata errors
WINDOW_SECONDS = 10.0
_MAX_KINDS = 1_000  # kinds remembered at once; libraries that format their own messages make a kind per line


@dataclass
class _Kind:
    passed_at: float
    left_out: int = 0


class RepeatedRecords(logging.Filter):
    """Lets one record of each kind through per ``window_seconds``; the clock is injectable for tests."""

    def __init__(self, window_seconds: float = WINDOW_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.window_seconds = window_seconds
        self.clock = clock
        self._kinds: dict[tuple[str, int, object], _Kind] = {}
        self._lock = threading.Lock()  # faust's consumer thread logs through aiokafka's logger too

    def filter(self, record: logging.LogRecord) -> bool:
        with self._lock:
            return self._counted(record)

    def _counted(self, record: logging.LogRecord) -> bool:
        now = self.clock()
        key = (record.name, record.levelno, record.msg)
        kind = self._kinds.get(key)
        if kind is not None and now - kind.passed_at < self.window_seconds:
            kind.left_out += 1
            return False
        if kind is not None and kind.left_out:
            record.msg = f"{record.msg} ({kind.left_out} more like this in the last {now - kind.passed_at:.0f} s " \
                         f"not logged)"
        if kind is None and len(self._kinds) >= _MAX_KINDS:
            self._forget_older_than(now - self.window_seconds)
        self._kinds[key] = _Kind(passed_at=now)
        return True

    def _forget_older_than(self, moment: float) -> None:
        for key in [key for key, kind in self._kinds.items() if kind.passed_at < moment]:
            del self._kinds[key]
        if len(self._kinds) >= _MAX_KINDS:  # all recent: forget the oldest half rather than grow
            for key in sorted(self._kinds, key=lambda k: self._kinds[k].passed_at)[:_MAX_KINDS // 2]:
                del self._kinds[key]


def quiet_repeated_kafka_client_errors() -> None:
    """Install the filter on aiokafka's client logger, once per process (any logging setup keeps it)."""
    logger = logging.getLogger(KAFKA_CLIENT_LOGGER)
    if not any(isinstance(f, RepeatedRecords) for f in logger.filters):
        logger.addFilter(RepeatedRecords())
