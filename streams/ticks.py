"""Periodic work of the stream processors, without mode's timer.

faust's ``app.timer`` sleeps through mode's ``Service.sleep``: ``asyncio.wait_for`` on the
service's stop event, so every tick makes a task, a timeout and a cancellation, and waits for
that task to end. At the dispatcher's tick (every 5 ms, all day, work or none) that is most of
what a tick costs: ~170 against ~90 us of CPU per tick with a plain ``asyncio.sleep``, wake-up
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
