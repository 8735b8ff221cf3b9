"""Measure the garbage collector's stop-the-world pauses in this process, and keep them short.

A full (generation 2) collection walks every tracked object the process holds, and while it
runs nothing else in the process does: no request is answered and no batch is projected. In a
long-running API process with large in-memory state these pauses are a latency source of
their own, invisible in any single code path, so they are counted here, logged when long, and
reported by whoever wants to say where time went (the projector's slow-batch line).

Most of what a started process holds never becomes garbage: modules, classes, FastAPI's routes,
pydantic's validators. ``freeze_what_started`` moves it out of the collector's sight once
start-up is done (``gc.freeze``), so every later full collection walks only what came after.
"""

from __future__ import annotations

import gc
import logging
import time
from typing import Any

log = logging.getLogger(__name__)

LONG_PAUSE_SECONDS = 0.1


class GcPauses:
    """Totals of the collector's pauses since ``install``; one per process."""

    def __init__(self) -> None:
        self.total_seconds = 0.0
        self.collections = [0, 0, 0]
        self.longest_seconds = 0.0
        self._began: float | None = None
        self._installed = False

    def install(self) -> None:
        if not self._installed:
            gc.callbacks.append(self._on_gc)
            self._installed = True

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
            return
        if self._began is None:
            return
        took = time.perf_counter() - self._began
        self._began = None
        self.total_seconds += took
        self.collections[info["generation"]] += 1
        self.longest_seconds = max(self.longest_seconds, took)
        if took > LONG_PAUSE_SECONDS:
            log.warning("gc: generation %d collection paused the process %.0f ms (%d collected, %d tracked objects)",
                        info["generation"], took * 1000, info["collected"], len(gc.get_objects(generation=2)))


PAUSES = GcPauses()


def freeze_what_started() -> None:
    """Collect once, then exempt every object alive now from later collections.

    Frozen objects are still freed by reference counting when dropped; only a reference cycle
    among them would outlive its use, and the collection just before the freeze leaves none.
    """
    gc.collect()
    gc.freeze()
