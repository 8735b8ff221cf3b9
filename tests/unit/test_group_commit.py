"""The group commit's scheduling (streams/pipeline.py): order, merging, acknowledgement after the last
stage, backpressure and failure. Its records come from a plain async source with faust's
``events``/``ack`` surface; the owners that use it are tested against the real broker in tests/integration.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest

from streams.pipeline import GroupCommit


@dataclass(frozen=True)
class Record:
    offset: int


@dataclass
class RecordSource:
    """Hands out records as they are put; remembers what was acknowledged, in order."""

    enable_acks: bool = True
    acked: list[int] = field(default_factory=list)
    queue: asyncio.Queue[Record | None] = field(default_factory=asyncio.Queue)

    def put(self, *offsets: int) -> None:
        for offset in offsets:
            self.queue.put_nowait(Record(offset))

    def end(self) -> None:
        self.queue.put_nowait(None)

    async def events(self):  # type: ignore[no-untyped-def]
        while (record := await self.queue.get()) is not None:
            yield record

    async def ack(self, event: Record) -> bool:
        self.acked.append(event.offset)
        return True


async def offsets_of(events: list[Record]) -> list[int]:
    return [e.offset for e in events]


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(asyncio.wait_for(coro, timeout=10))


def test_rounds_pass_every_stage_in_order_and_are_acknowledged_after_the_last() -> None:
    async def scenario() -> tuple[list[tuple[str, list[int]]], list[int], bool]:
        source = RecordSource()
        calls: list[tuple[str, list[int]]] = []
        first_stage_open = asyncio.Event()

        async def first(rounds: list[list[int]]) -> None:
            calls.append(("first", [o for r in rounds for o in r]))
            await first_stage_open.wait()

        async def second(rounds: list[list[int]]) -> None:
            calls.append(("second", [o for r in rounds for o in r]))

        commit = GroupCommit(offsets_of, [first, second], max_round=100, max_in_flight=100)
        runner = asyncio.create_task(commit.run(source))  # type: ignore[arg-type]
        source.put(1)
        while not calls:
            await asyncio.sleep(0)
        source.put(2, 3)  # decided while round [1] waits in the first stage
        for _ in range(20):
            await asyncio.sleep(0)
        acked_before_durable = bool(source.acked)
        first_stage_open.set()
        while source.acked != [1, 2, 3]:
            await asyncio.sleep(0.001)
        source.end()
        await runner
        return calls, source.acked, acked_before_durable

    calls, acked, acked_before_durable = run(scenario())
    assert not acked_before_durable
    # the two rounds decided while the first stage was busy went through it in one call
    assert [offsets for stage, offsets in calls if stage == "first"] == [[1], [2, 3]]
    assert [o for stage, offsets in calls if stage == "second" for o in offsets] == [1, 2, 3]
    for offset in (1, 2, 3):  # each record's first stage came before its second
        first_call = next(i for i, (stage, offsets) in enumerate(calls) if stage == "first" and offset in offsets)
        second_call = next(i for i, (stage, offsets) in enumerate(calls) if stage == "second" and offset in offsets)
        assert first_call < second_call
    assert acked == [1, 2, 3]


def test_a_stage_failure_stops_the_run_and_acknowledges_nothing_of_it() -> None:
    async def scenario() -> tuple[BaseException, list[int]]:
        source = RecordSource()

        async def failing(rounds: list[list[int]]) -> None:
            raise RuntimeError("append refused")

        commit = GroupCommit(offsets_of, [failing], max_round=10, max_in_flight=10)
        source.put(1, 2)
        with pytest.raises(BaseExceptionGroup) as raised:
            await commit.run(source)  # type: ignore[arg-type]
        return raised.value, source.acked

    error, acked = run(scenario())
    assert error.subgroup(lambda e: isinstance(e, RuntimeError) and str(e) == "append refused") is not None
    assert acked == []


def test_the_reader_waits_when_too_many_records_are_unacknowledged() -> None:
    async def scenario() -> tuple[int, list[int]]:
        source = RecordSource()
        decided: list[int] = []
        stage_open = asyncio.Event()

        async def decide(events: list[Record]) -> list[int]:
            decided.extend(e.offset for e in events)
            return [e.offset for e in events]

        async def stage(rounds: list[list[int]]) -> None:
            await stage_open.wait()

        commit = GroupCommit(decide, [stage], max_round=2, max_in_flight=3)
        runner = asyncio.create_task(commit.run(source))  # type: ignore[arg-type]
        source.put(*range(10))
        for _ in range(50):
            await asyncio.sleep(0)
        read_while_blocked = len(decided)
        stage_open.set()
        while len(source.acked) < 10:
            await asyncio.sleep(0.001)
        source.end()
        await runner
        return read_while_blocked, source.acked

    read_while_blocked, acked = run(scenario())
    assert read_while_blocked == 3
    assert acked == list(range(10))


def test_rounds_hold_at_most_max_round_records() -> None:
    async def scenario() -> list[int]:
        source = RecordSource()
        sizes: list[int] = []

        async def decide(events: list[Record]) -> int:
            sizes.append(len(events))
            return len(events)

        async def stage(rounds: list[int]) -> None:
            return None

        commit = GroupCommit(decide, [stage], max_round=4, max_in_flight=100)
        source.put(*range(10))
        runner = asyncio.create_task(commit.run(source))  # type: ignore[arg-type]
        while len(source.acked) < 10:
            await asyncio.sleep(0.001)
        source.end()
        await runner
        return sizes

    sizes = run(scenario())
    assert sum(sizes) == 10
    assert max(sizes) == 4


def test_rounds_put_by_the_process_are_made_durable_in_order_with_decided_ones() -> None:
    """A hand-over's table writes go in between the rounds decided before and after it."""
    async def scenario() -> list[list[int]]:
        source = RecordSource()
        durable: list[list[int]] = []

        async def stage(rounds: list[list[int]]) -> None:
            durable.append([o for r in rounds for o in r])
            await asyncio.sleep(0.01)

        commit = GroupCommit(offsets_of, [stage], max_round=10, max_in_flight=10)
        runner = asyncio.create_task(commit.run(source))  # type: ignore[arg-type]
        source.put(1)
        while not durable:
            await asyncio.sleep(0)
        commit.stages.put([100])  # while round [1] is in its stage
        source.put(2)
        while source.acked != [1, 2]:
            await asyncio.sleep(0.001)
        source.end()
        await runner
        return durable

    flattened = [o for call in run(scenario()) for o in call]
    assert flattened == [1, 100, 2]


def test_an_idle_first_stage_gathers_what_arrives_shortly_after() -> None:
    """A burst delivered over several event-loop turns goes out in one append, not its first record alone."""
    async def first_calls(gather_seconds: float) -> list[list[int]]:
        source = RecordSource()
        calls: list[list[int]] = []

        async def stage(rounds: list[list[int]]) -> None:
            calls.append([o for r in rounds for o in r])

        commit = GroupCommit(offsets_of, [stage], max_round=10, max_in_flight=10, gather_seconds=gather_seconds)
        runner = asyncio.create_task(commit.run(source))  # type: ignore[arg-type]
        source.put(1)
        await asyncio.sleep(0.01)
        source.put(2)
        while source.acked != [1, 2]:
            await asyncio.sleep(0.001)
        source.end()
        await runner
        return calls

    assert run(first_calls(0.1)) == [[1, 2]]
    assert run(first_calls(0.0)) == [[1], [2]]
