"""The common part of the API's in-memory directories: a log follower and the barrier lookup."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from aiokafka import TopicPartition

from projections.rows import LogRecord
from projections.tail import TopicTail
from taskforge.settings import Settings

T = TypeVar("T")


class FollowedDirectory:
    """Subclasses implement ``apply`` (one record into memory); lookups go through ``lookup``."""

    def __init__(self, settings: Settings, topic: str, name: str) -> None:
        self.tail = TopicTail(settings, [topic], self._apply_all, name=name)

    async def start(self) -> None:
        await self.tail.start()

    async def stop(self) -> None:
        await self.tail.stop()

    async def _apply_all(self, records: list[LogRecord], _positions: dict[TopicPartition, int]) -> None:
        for record in records:
            self.apply(record)

    def apply(self, record: LogRecord) -> None:
        raise NotImplementedError

    async def lookup(self, find: Callable[[], T | None]) -> T | None:
        """``find()`` now; on a miss, once more after the follower reached the log's end."""
        found = find()
        if found is None and await self.tail.catch_up():
            found = find()
        return found
