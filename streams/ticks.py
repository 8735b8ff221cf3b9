"""When the stream processors' own work runs: periodic sweeps (``every``) and one-off wake-ups (``Alarm``).

Periodic work runs without mode's timer. faust's ``app.timer`` sleeps through mode's
``Service.sleep``: ``asyncio.wait_for`` on the service's stop event, so every tick makes a task, a
timeout and a cancellation, and waits for that task to end. At the dispatcher's tick of the time
(every 5 ms, all day, work or none; since replaced by ``Alarm`` and a sweep once a second) that was
most of what a tick cost: ~170 against ~90 us of CPU per tick with a plain ``asyncio.sleep``, wake-up
included, on the bench host (``docs/figures.md``, sixth session). A plain loop needs none of it:
faust cancels the app's tasks when it stops, which ends the sleep.

The period is the interval plus the tick's own time (no drift correction): the ticks here are
sweeps whose exact phase does not matter. A tick that raises ends the loop and crashes the
worker, as a raising ``app.timer`` does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any

#: an alarm rings this much after the time it was set for: the loop's clock and the wall clock the deadlines
#: are read from may differ by a little, and an alarm that rings early finds nothing due and is set again
ALARM_SLACK_SECONDS = 0.001

Tick = Callable[[], Awaitable[None]]


def every(app: Any, seconds: float) -> Callable[[Tick], Tick]:
    """Decorator: run the coroutine function every ``seconds`` while ``app`` (a faust app) runs, first after
    ``seconds``, as ``app.timer`` would."""
    if seconds <= 0:
        raise ValueError("a tick's interval must be positive")

    def register(tick: Tick) -> Tick:
        @wraps(tick)
        async def ticking() -> None:
            while True:
                await asyncio.sleep(seconds)
                await tick()

        app.task(ticking)
        return tick

    return register


class Alarm:
    """One pending call of ``ring``, at the earliest of the times it was set for.

    Setting it for a later time than the pending one changes nothing; for an earlier one, it moves the
    call. After ringing it is unset until set again, so ``ring`` sets it for whatever is due next.
    Lives in the event loop's thread (``loop.call_at``).
    """

    def __init__(self, ring: Callable[[], None]) -> None:
        self._ring = ring
        self._handle: asyncio.TimerHandle | None = None
        self._at = 0.0

    @property
    def is_set(self) -> bool:
        return self._handle is not None

    def set_in(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        at = loop.time() + max(0.0, seconds) + ALARM_SLACK_SECONDS
        if self._handle is not None:
            if self._at <= at:
                return
            self._handle.cancel()
        self._at, self._handle = at, loop.call_at(at, self._rang)

    def _rang(self) -> None:
        self._handle = None
        self._ring()
