"""The follower's pacing against the real broker: under steady appends its batches are at least
``min_batch_interval`` apart, and a reader waiting at the barrier is served without that wait."""

from __future__ import annotations

import asyncio
import math
import time
import uuid

import pytest
from aiokafka import TopicPartition

from producers.event_log import KafkaEventLog
from producers.topics import Topics
from projections.rows import LogRecord
from projections.tail import TopicTail
from schemas.envelope import Tenant
from taskforge.settings import Settings
from tests.integration.test_read_model import submitted_envelope
from tests.support import fresh_log

pytestmark = pytest.mark.integration


async def paced_tail(broker_settings: Settings, interval: float) -> tuple[Topics, KafkaEventLog, TopicTail, list[float]]:
    """A follower of fresh topics whose handler records when each batch began."""
    settings, topics, log = await fresh_log(broker_settings)
    began: list[float] = []

    async def handle(records: list[LogRecord], positions: dict[TopicPartition, int]) -> None:
        began.append(time.monotonic())

    tail = TopicTail(settings, [topics.job_events], handle, name="paced", min_batch_interval=interval)
    await tail.start()
    return topics, log, tail, began


async def test_steady_appends_are_batched_no_more_often_than_the_interval(broker_settings: Settings) -> None:
    interval, seconds = 0.5, 2.5
    topics, log, tail, began = await paced_tail(broker_settings, interval)
    tenant = Tenant(organization_id=uuid.uuid4(), project_id=uuid.uuid4())
    try:
        start = time.monotonic()
        appended = 0
        while time.monotonic() - start < seconds:  # one append every 20 ms: with the linger alone, ~100 batches
            await log.append(topics.job_events, [submitted_envelope(tenant)])
            appended += 1
            await asyncio.sleep(0.02)
        paced = list(began)  # before the barrier below, whose reader is served without the interval
        assert await tail.catch_up(timeout=10)
        gaps = [b - a for a, b in zip(paced, paced[1:], strict=False)]
        assert appended > 50
        assert 2 <= len(paced) <= math.ceil(seconds / interval) + 1
        assert min(gaps) >= interval * 0.95
    finally:
        await tail.stop()
        await log.stop()


async def test_a_reader_at_the_barrier_is_not_held_by_the_interval(broker_settings: Settings) -> None:
    interval = 30.0
    topics, log, tail, began = await paced_tail(broker_settings, interval)
    tenant = Tenant(organization_id=uuid.uuid4(), project_id=uuid.uuid4())
    try:
        await log.append(topics.job_events, [submitted_envelope(tenant)])
        assert await tail.catch_up(timeout=10)  # the first batch: nothing before it, so only the linger
        await log.append(topics.job_events, [submitted_envelope(tenant)])
        # the previous batch began just now, so without a reader this one would gather for 30 s
        assert await tail.catch_up(timeout=10)
        assert len(began) == 2
    finally:
        await tail.stop()
        await log.stop()
