"""Measure the garbage collector's stop-the-world pauses in this process, and keep them short.

A full (generation 2) collection walks every tracked object the process holds, and while it
runs nothing else in the process does: no request is answered and no batch is projected. In a
long-running API process with large in-memory state these pauses are a latency source of
their own, invisible in any single code path, so they are counted here, logged when long, and
reported by whoever wants to say where time went (the projector's slow-batch line).

The policy (``collect_on_schedule``), for processes that hold large batches in flight (the
projector: ten thousand decoded records and their rows, alive for about a second):
- Most of what a started process holds never becomes garbage: modules, classes, FastAPI's
  routes, pydantic's validators. It is frozen once start-up is done (``gc.freeze``).
- Only the youngest generation is collected automatically. CPython's default also collects
  the older generations whenever enough objects survived, and a batch in flight survives:
  during a ten-million-event catch-up that meant a 150-250 ms full pass every half second,
  over a third of the process's time, and every read waited behind it.
- A full collection runs on a timer instead (``FULL_COLLECTION_SECONDS``), so the few
  reference cycles that outlive the young generation are still freed, at one pause a minute.
  What survives the first of them is frozen too (what the process built on first use).
- The timer backs off while full collections find next to nothing (``next_full_collection_in``):
  in the engine bench they found 0-10 objects a time, yet each paused the process 100-150 ms
  (the objects of work in flight: ~100,000 UUIDs, sets, tuples), a latency spike a minute
  for nothing. A collection that finds garbage brings the timer back to its base.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections import Counter
from typing import Any

log = logging.getLogger(__name__)

LONG_PAUSE_SECONDS = 0.1
LONG_PAUSE_MARKER = "gc: generation"  # how the log line of a long pause begins (the benchmarks count them)
FULL_COLLECTION_SECONDS = 60.0
FULL_COLLECTION_MAX_SECONDS = 960.0  # the longest the timer backs off to (cycles wait at most this long)
FEW_FOUND = 1_000  # a full collection that finds fewer unreachable objects than this was not needed
_KINDS_SHOWN = 6  # the commonest types of what a long pause walked, named in its log line: where to look
_NEVER = 2**30  # collections of a younger generation before an older one is collected automatically


class GcPauses:
    """The collector's pauses since ``install``, in total; one per process."""

    def __init__(self) -> None:
        self.total_seconds = 0.0
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
        if took > LONG_PAUSE_SECONDS:
            oldest = gc.get_objects(generation=2)
            kinds = Counter(type(o).__name__ for o in oldest).most_common(_KINDS_SHOWN)
            log.warning("%s %d collection paused the process %.0f ms (%d collected, %d objects in the oldest "
                        "generation, most of them %s)", LONG_PAUSE_MARKER, info["generation"], took * 1000,
                        info["collected"], len(oldest), ", ".join(f"{name} {n}" for name, n in kinds))


PAUSES = GcPauses()


class _Schedules:
    """How many components of this process run the policy (an API and a replay in one test process, say),
    and the thresholds to go back to once none does."""

    running = 0
    defaults: tuple[int, int, int] = gc.get_threshold()


def collect_on_schedule(every_seconds: float = FULL_COLLECTION_SECONDS) -> asyncio.Task[None]:
    """Adopt the policy above in this process; the returned task runs the full collections (cancel it to stop).

    Called once start-up is done. The collection before the freeze leaves no cycle among the frozen
    objects, and frozen objects are still freed by reference counting when dropped.
    """
    PAUSES.install()
    if _Schedules.running == 0:
        _Schedules.defaults = gc.get_threshold()
    _Schedules.running += 1
    gc.collect()
    gc.freeze()
    gc.set_threshold(_Schedules.defaults[0], _NEVER, _NEVER)
    task = asyncio.get_running_loop().create_task(_collect_fully(every_seconds), name="full-collections")
    task.add_done_callback(_schedule_stopped)  # also when cancelled before it ever ran
    return task


def next_full_collection_in(current: float, found: int, base: float,
                            longest: float = FULL_COLLECTION_MAX_SECONDS) -> float:
    """Seconds to the next full collection, given what the last one found: twice as long while they find
    next to nothing, back to ``base`` as soon as one finds garbage."""
    if found >= FEW_FOUND:
        return base
    return min(max(current * 2, base), max(longest, base))


async def _collect_fully(every_seconds: float) -> None:
    await asyncio.sleep(every_seconds)
    found = gc.collect()
    # What survives the first scheduled collection is mostly furniture the process made after start:
    # modules and caches built on first use. In the API that was ~150,000 objects (functions, cells,
    # weak references), walked again by every full collection: a 120-170 ms pause a minute. Frozen
    # once here; they are still freed by reference counting if ever dropped, and only a cycle among
    # them would outlive its use.
    gc.freeze()
    interval = next_full_collection_in(every_seconds, found, every_seconds)
    while True:
        await asyncio.sleep(interval)
        interval = next_full_collection_in(interval, gc.collect(), every_seconds)


def _schedule_stopped(_: asyncio.Task[None]) -> None:
    """Once no component runs the policy, the process goes on with the default one."""
    _Schedules.running -= 1
    if _Schedules.running == 0:
        gc.set_threshold(*_Schedules.defaults)
