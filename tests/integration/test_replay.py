"""The audit replay: a realistic log of 100k+ events, projected live and then replayed from offset zero,
gives the same rows in every table (by checksum). Real Kafka, real chdb."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from producers.event_log import KafkaEventLog
from producers.topics import Topics, ensure_topics
from projections.projector import Projector
from projections.replay import ReplayProgress, replay, table_checksums
from projections.store import ClickHouseStore
from schemas.envelope import EventEnvelope, Tenant
from taskforge.settings import Settings
from tests.generated_log import job_lives, queue_events, queues_for

pytestmark = pytest.mark.integration

JOBS = 20_000  # about 5 events a job
CHUNK = 5_000


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[ClickHouseStore]:
    store = ClickHouseStore(settings)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


async def test_a_replay_rebuilds_exactly_what_the_live_projector_wrote(settings: Settings,
                                                                       store: ClickHouseStore) -> None:
    topics = Topics.from_settings(settings)
    await ensure_topics(settings, topics)
    tenant = Tenant(organization_id=uuid.uuid4(), project_id=uuid.uuid4())
    work, dead = queues_for(tenant)
    first = queue_events(tenant, (work, dead), at=datetime(2026, 11, 1, tzinfo=UTC))

    log = KafkaEventLog(settings)
    await log.start()
    live = Projector(settings, store, topics)
    await live.start()  # projects while the log is written: batches of whatever shapes arrive
    events: list[EventEnvelope] = []
    try:
        await log.append(topics.queue_events, first)
        chunk: list[EventEnvelope] = []
        for event in job_lives(tenant, work, dead, JOBS, seed=42):
            chunk.append(event)
            if len(chunk) == CHUNK:
                await log.append(topics.job_events, chunk)
                events.extend(chunk)
                chunk = []
        await log.append(topics.job_events, chunk)
        events.extend(chunk)
        assert await live.tail.catch_up(timeout=120), "the live projector reached the log's end"
    finally:
        await live.stop()
        await log.stop()
    assert len(events) >= 100_000
    kinds = {e.event_type for e in events}
    assert {"JobRetryScheduled", "JobCancelled", "JobDeadLettered", "JobRetried", "JobReportRejected"} <= kinds

    before = await table_checksums(store)
    assert before["job_events"][0] == len(events)
    assert before["jobs"][0] == len({e.aggregate_id for e in events})
    assert before["queues"][0] == 2

    progress: list[ReplayProgress] = []
    result = await replay(settings, store, progress.append)
    after = await table_checksums(store)
    assert after == before, "the replay rebuilt other rows than the live projector wrote"
    assert result.events == len(events) + len(first) and result.rows["job_events"] == len(events)
    assert progress and progress[-1].events == result.events
