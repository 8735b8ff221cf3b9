"""The collection policy of the processes that hold large batches in flight (taskforge/gc_pauses.py)."""

from __future__ import annotations

import asyncio
import gc
import weakref

from taskforge.gc_pauses import FEW_FOUND, collect_on_schedule, next_full_collection_in


class Cycle:
    def __init__(self) -> None:
        self.me = self


async def test_only_the_young_generation_is_automatic_and_the_timer_frees_cycles() -> None:
    before = gc.get_threshold()
    collections = collect_on_schedule(every_seconds=0.05)
    try:
        young, middle, old = gc.get_threshold()
        assert young == before[0] and middle > 1_000_000 and old > 1_000_000
        cycle = Cycle()
        gc.collect(0)  # it outlives a young collection, as a batch in flight does
        freed = asyncio.Event()
        weakref.finalize(cycle, freed.set)
        del cycle
        await asyncio.wait_for(freed.wait(), timeout=5)  # the scheduled full collection freed it
    finally:
        collections.cancel()
        await asyncio.gather(collections, return_exceptions=True)
    assert gc.get_threshold() == before  # cancelled: the default policy again


async def test_the_default_policy_returns_when_the_last_schedule_stops() -> None:
    before = gc.get_threshold()
    first, second = collect_on_schedule(), collect_on_schedule()
    try:
        first.cancel()
        await asyncio.gather(first, return_exceptions=True)
        assert gc.get_threshold()[1] > 1_000_000  # the second still runs the policy
    finally:
        second.cancel()
        await asyncio.gather(second, return_exceptions=True)
    assert gc.get_threshold() == before


async def test_what_survives_the_first_scheduled_collection_is_frozen_once() -> None:
    collections = collect_on_schedule(every_seconds=0.05)
    try:
        frozen_at_start = gc.get_freeze_count()
        furniture = [Cycle() for _ in range(100)]  # made after start, kept for good
        await asyncio.sleep(0.2)  # the first scheduled collection ran
        assert gc.get_freeze_count() >= frozen_at_start + len(furniture)
        refrozen = gc.get_freeze_count()
        later = [Cycle() for _ in range(100)]
        await asyncio.sleep(0.2)
        assert gc.get_freeze_count() < refrozen + len(later), "frozen once, not at every collection"
        del later
    finally:
        collections.cancel()
        await asyncio.gather(collections, return_exceptions=True)
    del furniture


def test_the_full_collection_timer_backs_off_while_collections_find_next_to_nothing() -> None:
    assert next_full_collection_in(60, found=3, base=60) == 120
    assert next_full_collection_in(120, found=0, base=60) == 240
    assert next_full_collection_in(960, found=0, base=60) == 960  # no longer than the longest


def test_a_full_collection_that_finds_garbage_brings_the_timer_back() -> None:
    assert next_full_collection_in(480, found=FEW_FOUND, base=60) == 60
    assert next_full_collection_in(480, found=50_000, base=60) == 60


def test_a_short_base_is_never_stretched_past_the_longest() -> None:
    assert next_full_collection_in(0.05, found=0, base=0.05, longest=0.2) == 0.1
    assert next_full_collection_in(0.2, found=0, base=0.05, longest=0.2) == 0.2
