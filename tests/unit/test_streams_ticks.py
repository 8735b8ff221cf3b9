"""``streams.ticks.every``: the periodic work of the stream processors runs, in order, until cancelled."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from streams.ticks import Alarm, every


class RecordingApp:
    """Takes tasks the way a faust app's ``task`` does (the function to run once the app starts)."""

    def __init__(self) -> None:
        self.tasks: list[Callable[[], Awaitable[Any]]] = []

    def task(self, fun: Callable[[], Awaitable[Any]]) -> Callable[[], Awaitable[Any]]:
        self.tasks.append(fun)
        return fun


def test_a_tick_runs_after_each_interval_until_its_task_is_cancelled() -> None:
    app = RecordingApp()
    ticked: list[float] = []

    @every(app, 0.01)
    async def tick() -> None:
        ticked.append(asyncio.get_running_loop().time())

    async def run() -> tuple[float, int]:
        loop = asyncio.get_running_loop()
        began = loop.time()
        (task_fn,) = app.tasks
        running = loop.create_task(task_fn())
        await asyncio.sleep(0.2)
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
        count = len(ticked)
        await asyncio.sleep(0.05)
        assert len(ticked) == count, "a cancelled tick loop went on ticking"
        return began, count

    began, count = asyncio.run(run())
    assert count >= 5, f"only {count} ticks in 0.2 s at 10 ms"
    assert ticked[0] - began >= 0.01, "the first tick came before its interval"
    gaps = [b - a for a, b in zip(ticked, ticked[1:], strict=False)]
    assert min(gaps) >= 0.01 - 1e-3, "two ticks came closer than the interval"


def test_a_raising_tick_ends_its_loop_with_the_error() -> None:
    app = RecordingApp()

    @every(app, 0.001)
    async def tick() -> None:
        raise RuntimeError("broken tick")

    with pytest.raises(RuntimeError, match="broken tick"):
        asyncio.run(app.tasks[0]())


def test_an_interval_must_be_positive() -> None:
    with pytest.raises(ValueError):
        every(RecordingApp(), 0)


def test_an_alarm_rings_once_at_the_earliest_time_it_was_set_for() -> None:
    rang: list[float] = []

    async def run() -> tuple[float, Alarm]:
        loop = asyncio.get_running_loop()
        alarm = Alarm(lambda: rang.append(loop.time()))
        began = loop.time()
        alarm.set_in(0.2)
        alarm.set_in(0.05)  # earlier: moves the ring
        alarm.set_in(0.1)  # later than the pending one: changes nothing
        assert alarm.is_set
        await asyncio.sleep(0.3)
        return began, alarm

    began, alarm = asyncio.run(run())
    assert len(rang) == 1, f"rang {len(rang)} times"
    assert 0.05 <= rang[0] - began < 0.2, f"rang {rang[0] - began:.3f} s after being set for 0.05 s"
    assert not alarm.is_set, "an alarm that rang stays set"


def test_an_alarm_that_rang_can_be_set_again() -> None:
    rang: list[str] = []

    async def run() -> None:
        alarm = Alarm(lambda: rang.append("ring"))
        alarm.set_in(0.01)
        await asyncio.sleep(0.05)
        alarm.set_in(0.01)  # set again from its ring's aftermath, as the dispatcher does
        await asyncio.sleep(0.05)

    asyncio.run(run())
    assert rang == ["ring", "ring"]


def test_an_alarm_set_for_a_past_time_rings_at_once() -> None:
    rang: list[str] = []

    async def run() -> None:
        alarm = Alarm(lambda: rang.append("ring"))
        alarm.set_in(-5.0)
        await asyncio.sleep(0.02)

    asyncio.run(run())
    assert rang == ["ring"]
