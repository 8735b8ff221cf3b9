"""The stream processors' consumer lets the broker hold a fetch only briefly (see streams/transport.py)."""

from __future__ import annotations

import asyncio

import pytest

from streams.app import create_streams_app
from streams.transport import PromptConsumer, PromptConsumerThread, PromptTransport, finish_started
from taskforge.settings import Settings


def test_the_faust_consumer_is_built_with_the_configured_fetch_wait() -> None:
    async def build() -> int:
        app = create_streams_app(Settings(env="test", bootstrap_api_key="tf_" + "k" * 32, jwt_secret="j" * 40,
                                               streams_fetch_max_wait_ms=7))
        assert isinstance(app.transport, PromptTransport)
        thread = app.consumer._thread  # built, never started: no I/O
        assert isinstance(thread, PromptConsumerThread)
        consumer = thread._create_worker_consumer(app.transport)
        return consumer._fetch_max_wait_ms

    assert asyncio.run(build()) == 7, "faust's own default is 1500 ms"


# --- PromptConsumer.wait_first: faust's drain loop calls wait_first(deliver(record), suspend_flow.wait()) ---

def _consumer() -> PromptConsumer:
    app = create_streams_app(Settings(env="test", bootstrap_api_key="tf_" + "k" * 32, jwt_secret="j" * 40))
    consumer = app.consumer  # built, never started: no I/O
    assert isinstance(consumer, PromptConsumer)
    return consumer


async def test_a_delivery_that_need_not_wait_is_done_before_the_loop_turns() -> None:
    consumer = _consumer()
    turned: list[int] = []
    asyncio.get_running_loop().call_soon(turned.append, 1)  # runs at the next turn of the loop

    async def deliver() -> str:
        return "delivered"

    results = await consumer.wait_first(deliver(), consumer.suspend_flow.wait())
    assert results.results == ["delivered"] and not results.stopped
    assert turned == [], "faust's own race needs at least one turn of the loop per record"


async def test_a_delivery_that_waits_is_finished_when_what_it_waits_for_is_done() -> None:
    consumer = _consumer()
    room: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    seen: list[str] = []

    async def deliver() -> str:
        seen.append(await room)
        await asyncio.sleep(0)  # a bare yield after it
        return "delivered"

    racing = asyncio.create_task(consumer.wait_first(deliver(), consumer.suspend_flow.wait()))
    await asyncio.sleep(0.01)
    assert not racing.done()
    room.set_result("room")
    results = await racing
    assert results.done and results.results[0] == "delivered" and seen == ["room"]


async def test_a_suspended_flow_abandons_a_waiting_delivery_as_faust_does() -> None:
    consumer = _consumer()
    room: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    outcome: list[str] = []

    async def deliver() -> None:
        try:
            await room
        except asyncio.CancelledError:
            outcome.append("cancelled where it waited")
            raise

    racing = asyncio.create_task(consumer.wait_first(deliver(), consumer.suspend_flow.wait()))
    await asyncio.sleep(0.01)
    consumer.suspend_flow.set()  # a rebalance begins
    results = await racing
    assert len(results.done) == 1 and results.done[0] is not None
    await asyncio.sleep(0)  # faust cancels the losers as it leaves; let the cancellation arrive
    assert room.cancelled() and outcome == ["cancelled where it waited"]


async def test_while_the_flow_is_suspended_faust_races_as_it_always_did() -> None:
    consumer = _consumer()
    consumer.suspend_flow.set()  # a rebalance: the delivery must not be stepped ahead of faust's race
    turned: list[int] = []
    asyncio.get_running_loop().call_soon(turned.append, 1)

    async def deliver() -> None:
        return None

    results = await consumer.wait_first(deliver(), consumer.suspend_flow.wait())
    assert turned == [1], "faust's race runs its coroutines as tasks, a loop turn later"
    assert results.done


async def test_a_failing_delivery_raises_from_wait_first_whether_or_not_it_waited() -> None:
    consumer = _consumer()

    async def fails_at_once() -> None:
        raise ValueError("undecodable")

    with pytest.raises(ValueError, match="undecodable"):
        await consumer.wait_first(fails_at_once(), consumer.suspend_flow.wait())

    room: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def fails_later() -> None:
        await room
        raise ValueError("later")

    racing = asyncio.create_task(consumer.wait_first(fails_later(), consumer.suspend_flow.wait()))
    await asyncio.sleep(0.01)
    room.set_result(None)
    with pytest.raises(ValueError, match="later"):
        await racing


async def test_finish_started_cancelled_between_steps_throws_into_the_coroutine() -> None:
    outcome: list[str] = []

    async def yields_bare() -> None:
        try:
            await asyncio.sleep(0)
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            outcome.append("cancelled")
            raise

    coro = yields_bare()
    first = coro.send(None)  # stepped once, as the fast path does: a bare yield
    assert first is None
    task = asyncio.create_task(finish_started(coro, first))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert outcome == ["cancelled"]
