"""faust's Kafka transport with a consumer that does not sit on a fetch for 1.5 s.

faust builds its aiokafka consumer with ``fetch_max_wait_ms=1500`` (hard-coded). aiokafka
keeps one fetch request in flight per broker and leaves out of it the partitions whose
records are still buffered, so a record that arrives for such a partition waits for the
in-flight request to come back: up to 1.5 s whenever the partitions it does cover are quiet.
Every agent of the stream processors (owners, dispatchers) reads through this one consumer,
so that wait was added to every hop of a job's life. Measured with ``benchmarks/engine.py``:
the owner decided commands ~1.5 s after they were appended.

The same consumer hands each record to the agents through ``wait_first(deliver(record),
suspend_flow.wait())``: four tasks and at least two turns of the event loop per record, even when
the delivery (a put into a stream's buffer with room) never waits. The turns are what cost: every
other ready task of the process (a decision round, a durability stage) runs in each, so the records
of one fetch reached the owners tens of milliseconds after the fetch (``docs/figures.md``, runs
177-184). ``PromptConsumer.wait_first`` runs such a delivery at once, in the drain loop's own task,
and falls back to faust's race only when the delivery has to wait.

The same consumer lost table changelog records after rebalances (``docs/job-engine.md`` item 6: a
recovery that never ended). A fetch the drain loop started before a rebalance waits through it in the
consumer's thread and then hands over whatever it finds for the partitions in faust's *live* set of
active partitions, advancing aiokafka's positions. If that happens while the flow is still stopped,
faust drops the records and seeks back only to committed offsets, which changelogs do not have; if it
happens after the recovery's seek, the recovery waits for records the consumer is already past. A
changelog partition was in that set whenever faust had last resumed it (a standby's, or any at a fresh
start), so the window was open on every rebalance. So here changelog partitions come out of every new
assignment paused (the recovery resumes each one after seeking it, in the same step in which it resumes
the flow), the set changes without ever showing a partition that should not be in it, and an empty set
means no partition rather than aiokafka's "all of them".

The short wait is needed only while a fetch leaves some partition out. A fetch that asks for every
partition faust wants (its active set) is answered as soon as any of them has a record, however long the
broker may hold it, so such a fetch is held up to ``quiet_fetch_max_wait_ms`` (250 ms) instead: an idle
process then fetches ~4 times a second instead of 50, which was most of what the stream processors and the
broker spent idle (``docs/figures.md``, sixth session). What can wait for it is a partition resumed while
such a fetch is out (a recovery's changelogs, the source topics after a recovery): up to that long, once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterable, Sequence, Set
from typing import Any

import aiokafka
from faust.transport.consumer import ensure_TPset
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP
from mode.services import WaitResults


class LivePartitions:
    """faust's set of active partitions as it is at each look, for aiokafka's ``fetched_records``.

    aiokafka reads an empty (false) set of partitions as "all assigned partitions"; faust's set is empty
    for a moment after a revocation, while a fetch started before it may still be waiting. Here empty
    means none.
    """

    __slots__ = ("live",)

    def __init__(self, live: Set[TP]) -> None:
        self.live = live

    def __bool__(self) -> bool:
        return True

    def __contains__(self, tp: object) -> bool:
        return tp in self.live


def asks_for_every_wanted_partition(requests: Sequence[tuple[int, Any]], wanted: Sequence[tuple[str, int]]) -> bool:
    """Whether aiokafka's fetch requests (``(node id, FetchRequest)``) ask for every partition in ``wanted``
    (faust's active ones, as ``(topic, partition)``; none wanted is never enough): then a record for any
    partition faust would hand on answers them at once."""
    asked = {(topic, partition) for _node, request in requests for topic, partitions in request.topics
             for partition, *_ in partitions}
    return bool(wanted) and all((topic, partition) in asked for topic, partition in wanted)


def hold_quiet_fetches(fetcher: Any, quiet_wait_ms: int, wanted: Callable[[], Sequence[tuple[str, int]]]) -> None:
    """Make ``fetcher`` (aiokafka's, started) let the broker hold a fetch up to ``quiet_wait_ms`` whenever the
    fetch asks for every partition ``wanted()`` names (module docstring); the others keep the short wait.
    aiokafka's fetch routine looks the method up on every round, so the wrapper takes effect at once.

    The wanted partitions are faust's active set, not aiokafka's unpaused ones: faust's ``pause_partitions`` is
    its own bookkeeping (its aiokafka driver never pauses aiokafka), so aiokafka goes on fetching the changelog
    partitions faust holds paused, keeps their records buffered, and leaves them out of every later fetch."""
    actions_per_node = fetcher._get_actions_per_node

    def actions(assignment: Any) -> Any:
        requests, resets, backoff, invalid_metadata, resume_futures = actions_per_node(assignment)
        if requests and not resets and not invalid_metadata and asks_for_every_wanted_partition(requests, wanted()):
            for _node, request in requests:
                request._max_wait_ms = max(request._max_wait_ms, quiet_wait_ms)
        return requests, resets, backoff, invalid_metadata, resume_futures

    fetcher._get_actions_per_node = actions


def wanted_partitions(consumer: Any) -> tuple[tuple[str, int], ...]:
    """faust's active set as the consumer's thread may read it: copied in one step (``tuple`` of a set runs
    without giving up the interpreter lock), since faust's own thread changes the set."""
    return tuple((tp.topic, tp.partition) for tp in tuple(consumer._active_partitions or ()))


class PromptConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):  # type: ignore[misc]
    fetch_max_wait_ms: int = 20
    quiet_fetch_max_wait_ms: int = 250

    async def on_start(self) -> None:
        await super().on_start()
        hold_quiet_fetches(self._consumer._fetcher, self.quiet_fetch_max_wait_ms,
                           lambda: wanted_partitions(self.consumer))

    def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        # read by the consumer when it builds its fetcher at start; no constructor argument reaches it through faust
        consumer._fetch_max_wait_ms = self.fetch_max_wait_ms
        return consumer

    async def _fetch_records(self, consumer: aiokafka.AIOKafkaConsumer, active_partitions: Set[TP] | None,
                             timeout: float | None = None, max_records: int | None = None) -> Any:
        live = LivePartitions(active_partitions) if active_partitions is not None else None
        return await super()._fetch_records(consumer, live, timeout=timeout, max_records=max_records)


class PromptConsumer(faust_aiokafka.Consumer):  # type: ignore[misc]
    def _new_consumer_thread(self) -> PromptConsumerThread:
        return PromptConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def on_partitions_assigned(self, assigned: set[TP], generation_id: int = 0) -> None:
        """Changelog partitions start paused: only the recovery resumes them, after its seek."""
        self._paused_partitions.update(tp for tp in assigned if self._is_changelog_tp(tp))
        await super().on_partitions_assigned(assigned, generation_id)

    def _set_active_tps(self, tps: Iterable[TP]) -> set[TP]:
        """faust clears the set and refills it, then takes the paused partitions out: the consumer's thread,
        reading the set meanwhile, could see no partition (all, to aiokafka) or paused ones. Each step here
        is one operation on the set, and none adds a partition that is not wanted."""
        if self._active_partitions is None:
            self._active_partitions = set()
        wanted = ensure_TPset(tps) - self._paused_partitions
        active: set[TP] = self._active_partitions
        active.difference_update(active - wanted)
        active.update(wanted)
        return active

    async def wait_first(self, *coros: Any, timeout: float | None = None) -> WaitResults:
        """faust's drain loop delivers each record with ``wait_first(deliver, suspend_flow.wait())``.

        While the flow runs, the delivery is stepped here until it first has to wait. Most deliveries
        finish in that step, which makes them the winner faust's race would have found one loop turn
        later. A delivery that has to wait (a full buffer, a rebalance holding the conductor's lock)
        is finished by ``finish_started`` in faust's own race, so a suspended flow still abandons it.
        Any other call, or a call while the flow is suspended or the service stopping, is faust's.
        """
        if (timeout is not None or len(coros) != 2 or not all(isinstance(c, Coroutine) for c in coros)
                or self.suspend_flow.is_set() or self.should_stop):
            return await super().wait_first(*coros, timeout=timeout)
        delivery, suspended = coros
        try:
            waiting_on = delivery.send(None)
        except StopIteration as done:
            suspended.close()  # never started: faust's race would have cancelled it
            return WaitResults([delivery], [done.value], False)
        except BaseException:
            suspended.close()  # the delivery's error propagates, as from faust's race
            raise
        return await super().wait_first(finish_started(delivery, waiting_on), suspended)


async def finish_started(coro: Coroutine[Any, Any, Any], waiting_on: Any) -> Any:
    """Run ``coro``, already stepped once and now waiting on ``waiting_on``, to its end as its task would.

    A task that finds its coroutine waiting on a future resumes it when the future is done (whatever its
    outcome: the coroutine's own ``await`` reads it); a bare ``yield`` (``asyncio.sleep(0)``) is one loop
    turn. Cancelled, it cancels that future, as ``Task.cancel`` does, and the coroutine sees the
    cancellation where it waits; one that was not waiting on a future gets the ``CancelledError`` thrown in.
    """
    while True:
        throw: BaseException | None = None
        try:
            if waiting_on is None:
                await asyncio.sleep(0)
            else:
                waiting_on._asyncio_future_blocking = False  # noqa: SLF001 - as a task does with what it is handed
                await asyncio.wait([waiting_on])
        except asyncio.CancelledError as cancelled:
            if waiting_on is None or not waiting_on.cancel():
                throw = cancelled
        try:
            waiting_on = coro.send(None) if throw is None else coro.throw(throw)
        except StopIteration as done:
            return done.value


class PromptTransport(faust_aiokafka.Transport):  # type: ignore[misc]
    Consumer = PromptConsumer


def install_prompt_transport(app: Any, fetch_max_wait_ms: int, quiet_fetch_max_wait_ms: int) -> None:
    """Give ``app`` the prompt consumer; call before the app starts."""
    PromptConsumerThread.fetch_max_wait_ms = fetch_max_wait_ms
    PromptConsumerThread.quiet_fetch_max_wait_ms = quiet_fetch_max_wait_ms
    app.transport = PromptTransport(app.conf.broker_consumer, app)
