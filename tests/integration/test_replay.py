"""The audit replay: a realistic log of 100k+ events, projected live and then replayed from offset zero,
gives the same rows in every table (by checksum). Real Kafka, real chdb."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from producers.event_log import KafkaEventLog
from producers.topics import Topics, ensure_topics
from projections.projector import Projector
from projections.replay import ReplayProgress, replay, table_checksums
from projections.store import ClickHouseStore
from schemas.envelope import EventEnvelope, Tenant, wrap
from schemas.worker import WorkerState, WorkerStateChanged
from taskforge.settings import Settings
from tests.generated_log import job_lives, queue_events, queues_for

pytestmark = pytest.mark.integration

JOBS = 20_000  # about 5 events a job
CHUNK = 5_000


def worker_lives(tenant: Tenant, queue_ids: list[uuid.UUID]) -> list[EventEnvelope]:
    """Three workers: registered, a few heartbeats each, one drained and one deregistered."""
    at = datetime(2026, 11, 1, tzinfo=UTC)
    events = []
    for n, last in enumerate(("online", "draining", "deregistered")):
        state = WorkerState(worker_id=uuid.uuid4(), name=f"w{n}", worker_type="default", queue_ids=queue_ids,
                            job_types=[], max_concurrent_jobs=8, heartbeat_interval_seconds=30, metadata={"n": n},
                            status="online", registered_at=at, last_heartbeat_at=at)
        changes = [("registered", state)] + [
            ("heartbeat", state.model_copy(update={"last_heartbeat_at": at + timedelta(seconds=30 * beat)}))
            for beat in range(1, 4)]
        if last != "online":
            changes.append((last, changes[-1][1].model_copy(update={"status": last})))
        events += [wrap(WorkerStateChanged(change=change, worker=worker), tenant=tenant,
                        aggregate_id=worker.worker_id, occurred_at=worker.last_heartbeat_at, event_id=uuid.uuid4())
                   for change, worker in changes]
    return events


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
    workers = worker_lives(tenant, [work.queue_id])

    log = KafkaEventLog(settings)
    await log.start()
    live = Projector(settings, store, topics)
    await live.start()  # projects while the log is written: batches of whatever shapes arrive
    events: list[EventEnvelope] = []
    try:
        await log.append(topics.queue_events, first)
        await log.append(topics.worker_events, workers)
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
    assert before["workers"][0] == 3, "one row per worker: its newest state"

    progress: list[ReplayProgress] = []
    result = await replay(settings, store, progress.append)
    after = await table_checksums(store)
    assert after == before, "the replay rebuilt other rows than the live projector wrote"
    assert result.events == len(events) + len(first) + len(workers) and result.rows["job_events"] == len(events)
    assert progress and progress[-1].events == result.events
