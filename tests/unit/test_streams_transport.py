"""The stream processors' consumer lets the broker hold a fetch only briefly (see streams/transport.py)."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import TopicPartition
from aiokafka.protocol.fetch import FetchRequest
from faust.types import TP

from streams.app import create_streams_app
from streams.transport import (
    PromptConsumer, PromptConsumerThread, PromptTransport, asks_for_every_wanted_partition, wanted_partitions,
    finish_started, hold_quiet_fetches,
)
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


# --- the active partitions the consumer's thread reads while a rebalance changes them (docs/job-engine.md item 6) ---

class _RecordedSet(set):  # type: ignore[type-arg]
    """A set that keeps what it held after each change, as the consumer's thread could see it between changes."""

    def __init__(self, *args: object) -> None:
        super().__init__(*args)
        self.states: list[frozenset[object]] = []

    def _record(self) -> None:
        self.states.append(frozenset(self))

    def clear(self) -> None:
        super().clear()
        self._record()

    def update(self, *others: object) -> None:  # type: ignore[override]
        super().update(*others)
        self._record()

    def difference_update(self, *others: object) -> None:  # type: ignore[override]
        super().difference_update(*others)
        self._record()

    def intersection_update(self, *others: object) -> None:  # type: ignore[override]
        super().intersection_update(*others)
        self._record()


def test_the_active_partitions_never_show_a_paused_partition_nor_none_while_they_change() -> None:
    from faust.types import TP

    consumer = _consumer()
    source, kept, changelog = TP("t.job-commands", 0), TP("t.job-commands", 1), TP("t-streams-job-state-changelog", 0)
    consumer._active_partitions = _RecordedSet({kept, changelog})  # changelog: resumed by an earlier recovery
    consumer._paused_partitions = {changelog}  # paused again since, as a new assignment leaves it
    active = consumer._set_active_tps({source, kept, changelog})
    assert active == {source, kept}
    assert active.states, "the set is changed in place: a fetch already waiting holds this very set"
    for state in active.states:
        assert changelog not in state, active.states  # faust's own refill showed every assigned partition first
        assert state, active.states  # an empty set is "all partitions" to aiokafka's fetched_records


def test_an_empty_set_of_active_partitions_means_none_to_the_fetch() -> None:
    from faust.types import TP

    from streams.transport import LivePartitions

    live: set[TP] = set()
    partitions = LivePartitions(live)
    tp = TP("t.job-commands", 0)
    # aiokafka's fetched_records skips a buffered partition when ``partitions and tp not in partitions``
    assert partitions and tp not in partitions
    live.add(tp)
    assert tp in partitions, "read at each look, not copied"


# --- hold_quiet_fetches: a fetch that asks for every partition faust wants may be held long ---

def _request(*tps: TopicPartition) -> FetchRequest:
    by_topic: dict[str, list[tuple[int, int, int]]] = {}
    for tp in tps:
        by_topic.setdefault(tp.topic, []).append((tp.partition, 0, 1_048_576))
    return FetchRequest(20, 1, 52_428_800, 0, list(by_topic.items()))


class _Fetcher:
    """What aiokafka's fetch routine calls each round: the requests to send, per broker node."""

    def __init__(self, requests: list[tuple[int, FetchRequest]], resets: dict[int, list[TopicPartition]] | None = None
                 ) -> None:
        self.requests, self.resets = requests, resets or {}

    def _get_actions_per_node(self, assignment: object) -> tuple[object, ...]:
        return self.requests, self.resets, 0.1, False, []


A0, A1, B0 = TopicPartition("a", 0), TopicPartition("a", 1), TopicPartition("b", 0)


def _waits(fetcher: _Fetcher, *wanted: TopicPartition) -> list[int]:
    hold_quiet_fetches(fetcher, 250, lambda: [(tp.topic, tp.partition) for tp in wanted])
    requests, *_ = fetcher._get_actions_per_node(object())
    return [request._max_wait_ms for _node, request in requests]


def test_a_fetch_for_every_partition_faust_wants_is_held_long() -> None:
    # b0 is not wanted (a changelog faust holds paused after its recovery; aiokafka may still fetch it)
    assert _waits(_Fetcher([(1, _request(A0, A1))]), A0, A1) == [250]
    assert _waits(_Fetcher([(1, _request(A0, A1, B0))]), A0, A1) == [250]


def test_a_fetch_that_leaves_a_wanted_partition_out_keeps_the_short_wait() -> None:
    # a1 is left out (its records still buffered): a record for it would wait for this fetch to return
    assert _waits(_Fetcher([(1, _request(A0, B0))]), A0, A1) == [20]


def test_with_nothing_wanted_a_fetch_keeps_the_short_wait() -> None:
    # faust's set is empty while partitions move: what it wants next must not wait behind a long fetch
    assert _waits(_Fetcher([(1, _request(A0, A1))])) == [20]
    assert not asks_for_every_wanted_partition([(1, _request(A0))], [])


def test_a_fetch_sent_while_positions_are_reset_keeps_the_short_wait() -> None:
    assert _waits(_Fetcher([(1, _request(A0, A1))], resets={1: [B0]}), A0, A1) == [20]


def test_the_consumer_thread_reads_faust_s_active_set_as_topic_partition_pairs() -> None:
    app = create_streams_app(Settings(env="test", bootstrap_api_key="tf_" + "k" * 32, jwt_secret="j" * 40))
    consumer = app.consumer  # built, never started: no I/O
    assert wanted_partitions(consumer) == ()
    consumer._active_partitions = {TP("a", 0), TP("b", 3)}
    assert sorted(wanted_partitions(consumer)) == [("a", 0), ("b", 3)]
