"""Group commit for the stream processors: decide what has arrived at once, make it durable in
ordered rounds, acknowledge the records only after.

Why not faust's ``take_events``: it stops reading while a batch is handled and then lingers
for the next, so an owner looked at nothing while its batch waited for Kafka's acks (two
sequential appends, 2-80 ms each on a busy two-core box), and a record that arrived
meanwhile waited for all of that, the linger and its own batch. Measured in the engine bench
at 500 jobs/s, a dispatcher record reached its batch ~35 ms (p90) after faust delivered it to
the process; through ``GroupCommit``, ~1 ms (``docs/job-engine.md`` §3).

Three things run at once:

- the reader takes records off the stream as faust delivers them (acks are manual);
- the decider takes everything that has arrived as soon as it is free and decides it in
  memory (each round sees the rounds before it, appended or not);
- ``Stages``: each durability stage (an append awaited until Kafka acknowledges it) takes every
  round waiting for it in one go, in order, one stage call at a time. Stage k of a round runs
  after stage k-1 of that round and after stage k of the round before; stage k of one round
  may run while stage k-1 of the next is in flight, and aiokafka then carries both in one
  produce request.

A round's records are acknowledged to faust after its last stage, so a crash anywhere before
that redelivers them, and faust commits only the acknowledged prefix of each partition.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from faust.types import EventT, StreamT

Decided = TypeVar("Decided")
Decide = Callable[[list[EventT]], Awaitable[Decided]]
Stage = Callable[[list[Decided]], Awaitable[None]]
Settle = Callable[[list[EventT]], Awaitable[None]]


@dataclass(frozen=True)
class Round(Generic[Decided]):
    """What was decided together, and the records it came from (none for work a process adds itself)."""

    decided: Decided
    events: list[EventT] = field(default_factory=list)


async def _all_waiting(queue: asyncio.Queue[Round[Decided]], gather_seconds: float) -> list[Round[Decided]]:
    """At least one round: every round queued at this moment (a stage makes them durable in one call),
    after waiting ``gather_seconds`` from the first one for more to join."""
    rounds = [await queue.get()]
    if gather_seconds > 0:
        await asyncio.sleep(gather_seconds)
    while not queue.empty():
        rounds.append(queue.get_nowait())
    return rounds


class Stages(Generic[Decided]):
    """Ordered durability stages with group commit; ``settle`` gets each round's records after the last.

    ``put`` never waits: rounds are made durable in the order they were put. ``run`` runs the stage
    loops until cancelled; a stage that raises ends it (and the caller's task group).
    """

    def __init__(self, stages: Sequence[Stage[Decided]], settle: Settle | None = None,
                 gather_seconds: float = 0.0) -> None:
        if not stages:
            raise ValueError("at least one durability stage is needed")
        self._stages = list(stages)
        self._settle = settle
        self._gather_seconds = gather_seconds  # for the first stage only: later ones get rounds in groups
        self._inboxes: list[asyncio.Queue[Round[Decided]]] = [asyncio.Queue() for _ in self._stages]

    def put(self, decided: Decided, events: list[EventT] | None = None) -> None:
        self._inboxes[0].put_nowait(Round(decided, events or []))

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            for index, stage in enumerate(self._stages):
                following = self._inboxes[index + 1] if index + 1 < len(self._inboxes) else None
                group.create_task(self._staging(stage, self._inboxes[index], following,
                                                self._gather_seconds if index == 0 else 0.0))

    async def _staging(self, stage: Stage[Decided], inbox: asyncio.Queue[Round[Decided]],
                       following: asyncio.Queue[Round[Decided]] | None, gather_seconds: float) -> None:
        """A stage with nothing queued when its last call ended is idle: the next round to come first waits
        ``gather_seconds`` for others to join (faust hands over the records of one fetch several event-loop
        turns apart, one round each, so the first record of a burst would go out alone and the rest wait
        for its ack). Rounds that queued during a call go at once: they have waited already."""
        idle = True
        while True:
            rounds = await _all_waiting(inbox, gather_seconds if idle else 0.0)
            await stage([r.decided for r in rounds])
            idle = inbox.empty()
            if following is not None:
                for done in rounds:
                    following.put_nowait(done)
            elif self._settle is not None:
                await self._settle([event for done in rounds for event in done.events])


class GroupCommit(Generic[Decided]):
    """Runs one stream through a decider and its durability stages (see the module docstring).

    ``max_round`` bounds the records of one decision round; ``max_in_flight`` the records read but
    not yet acknowledged, so that a slow Kafka holds the reader back instead of filling memory.
    ``stages.put`` adds rounds of the process's own (no records), ordered with the decided ones.
    """

    def __init__(self, decide: Decide[Decided], stages: Sequence[Stage[Decided]], *, max_round: int,
                 max_in_flight: int, gather_seconds: float = 0.0) -> None:
        self._decide = decide
        self.stages: Stages[Decided] = Stages(stages, settle=self._acknowledge, gather_seconds=gather_seconds)
        self._max_round = max_round
        self._room = asyncio.Semaphore(max_in_flight)
        self._arrived: list[EventT] = []
        self._arrival = asyncio.Event()
        self._stream: StreamT | None = None

    async def run(self, stream: StreamT) -> None:
        """Until the stream ends or a stage fails: a failure cancels the rest and propagates to the agent,
        which leaves every unacknowledged record to be redelivered."""
        self._stream = stream
        stream.enable_acks = False
        async with asyncio.TaskGroup() as group:
            loops = [group.create_task(self._deciding()), group.create_task(self.stages.run())]
            async for event in stream.events():
                await self._room.acquire()
                self._arrived.append(event)
                self._arrival.set()
            for loop in loops:  # the stream ended (the worker stops): what is unacknowledged is redelivered
                loop.cancel()

    async def _acknowledge(self, events: list[EventT]) -> None:
        assert self._stream is not None
        for event in events:
            await self._stream.ack(event)
            self._room.release()

    async def _deciding(self) -> None:
        while True:
            await self._arrival.wait()
            events = self._arrived[:self._max_round]
            del self._arrived[:self._max_round]
            if not self._arrived:
                self._arrival.clear()
            self.stages.put(await self._decide(events), events)
