"""The projector and the queries, on every ClickHouse backend there is (chdb always; a server when configured)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from projections.projector import Projector
from projections.schema import SCHEMA_VERSION, ensure_schema
from projections.queries import JobFilter, JobQueries
from projections.store import ClickHouseStore
from schemas.envelope import EventEnvelope, Tenant, wrap
from schemas.job import JobLeased, JobStatus, JobSubmitted, JobSucceeded
from taskforge.settings import Settings
from tests.support import eventually, fresh_log, scoped_settings

pytestmark = pytest.mark.integration


def submitted_envelope(tenant: Tenant, job_type: str = "t"):
    job_id = uuid.uuid4()
    event = JobSubmitted(job_id=job_id, queue_id=uuid.uuid4(), queue_name="q", job_type=job_type, payload={"i": 1},
                         priority=1, max_attempts=1, status=JobStatus.PENDING)
    return wrap(event, tenant=tenant, aggregate_id=job_id, occurred_at=datetime.now(UTC), event_id=uuid.uuid4())


async def test_projection_survives_a_restart_without_loss_or_duplicates(
    broker_settings: Settings, clickhouse_backend: str
) -> None:
    settings, topics, log = await fresh_log(broker_settings, clickhouse_url=clickhouse_backend)
    tenant = Tenant(organization_id=uuid.uuid4(), project_id=uuid.uuid4())
    stranger = Tenant(organization_id=uuid.uuid4(), project_id=uuid.uuid4())
    first = [submitted_envelope(tenant) for _ in range(50)]
    await log.append(topics.job_events, first)
    await log.append(topics.job_events, [submitted_envelope(stranger)])

    store = ClickHouseStore(settings)
    await store.open()
    queries = JobQueries(store)
    projector = Projector(settings, store, topics)
    await projector.start()
    assert await projector.tail.catch_up(timeout=10)
    assert (await queries.list(tenant, JobFilter(), 1, 100)).total == 50
    await projector.stop()

    second = [submitted_envelope(tenant, job_type="later") for _ in range(20)]
    await log.append(topics.job_events, second)
    restarted = Projector(settings, store, topics)
    await restarted.start()
    assert await restarted.tail.catch_up(timeout=10)
    assert restarted.events_written == 20, "resumed from the recorded offsets, not from zero"
    page = await queries.list(tenant, JobFilter(), 1, 100)
    assert page.total == 70
    assert len({row["id"] for row in page.rows}) == 70
    assert (await queries.list(tenant, JobFilter(job_type="later"), 1, 100)).total == 20
    assert (await queries.list(stranger, JobFilter(), 1, 100)).total == 1
    one = first[0].data
    row = await queries.get(tenant, one.job_id)
    assert row is not None and row["status"] == "pending" and row["queue_name"] == "q"
    assert await queries.get(stranger, one.job_id) is None, "another tenant's job is invisible"
    await restarted.stop()
    await log.stop()
    await store.close()


async def test_reprojecting_a_range_changes_nothing(broker_settings: Settings, clickhouse_backend: str) -> None:
    settings, topics, log = await fresh_log(broker_settings, clickhouse_url=clickhouse_backend)
    tenant = Tenant(organization_id=uuid.uuid4(), project_id=uuid.uuid4())
    await log.append(topics.job_events, [submitted_envelope(tenant) for _ in range(30)])
    store = ClickHouseStore(settings)
    await store.open()
    projector = Projector(settings, store, topics)
    await projector.start()
    assert await projector.tail.catch_up(timeout=10)
    await projector.stop()

    await store.command("TRUNCATE TABLE projector_offsets")  # as if the offsets had never been written
    again = Projector(settings, store, topics)
    await again.start()
    assert await again.tail.catch_up(timeout=10)
    assert again.events_written == 30, "the whole range was projected a second time"
    total = await eventually(lambda: JobQueries(store).list(tenant, JobFilter(), 1, 10), timeout=5)
    assert total.total == 30
    assert await store.scalar("SELECT count() FROM job_events FINAL") == 30
    await again.stop()
    await log.stop()
    await store.close()


def succeeded_envelopes(tenant: Tenant, job_id: uuid.UUID, at: datetime) -> list[EventEnvelope]:
    """A lease and its success, as the job's owner writes them (sequences 2 and 3)."""
    lease, worker = uuid.uuid4(), uuid.uuid4()
    return [
        wrap(JobLeased(job_id=job_id, lease_id=lease, worker_id=worker, attempt=1, deadline=at + timedelta(minutes=1),
                       leased_at=at), tenant=tenant, aggregate_id=job_id, occurred_at=at, event_id=uuid.uuid4(),
             sequence=2),
        wrap(JobSucceeded(job_id=job_id, lease_id=lease, worker_id=worker, attempt=1, started_at=at),
             tenant=tenant, aggregate_id=job_id, occurred_at=at + timedelta(milliseconds=250), event_id=uuid.uuid4(),
             sequence=3),
    ]


async def test_a_lost_time_ordered_copy_is_restored_by_the_re_read(
    broker_settings: Settings, clickhouse_backend: str
) -> None:
    """A crash after the jobs rows landed and before their other tables did: the re-read range restores them.

    The time-ordered copy, the key-value copy and the outcomes are separate inserts from the jobs rows.
    """
    settings, topics, log = await fresh_log(broker_settings, clickhouse_url=clickhouse_backend)
    tenant = Tenant(organization_id=uuid.uuid4(), project_id=uuid.uuid4())
    envelopes = [submitted_envelope(tenant) for _ in range(30)]
    now = datetime.now(UTC)
    done = [e.data.job_id for e in envelopes[:5]]
    await log.append(topics.job_events, [*envelopes, *(e for job_id in done for e in succeeded_envelopes(tenant, job_id, now))])
    store = ClickHouseStore(settings)
    await store.open()
    queries = JobQueries(store)
    projector = Projector(settings, store, topics)
    await projector.start()
    assert await projector.tail.catch_up(timeout=10)
    await projector.stop()

    queue = envelopes[0].data.queue_id
    period = (now - timedelta(minutes=1), now + timedelta(minutes=1))
    assert (await queries.queue_metrics(tenant, queue, *period)).succeeded == 1
    for table in ("jobs_by_time", "jobs_by_id", "job_outcomes"):  # the copies lost ...
        await store.command(f"TRUNCATE TABLE {table}")
    await store.command("TRUNCATE TABLE projector_offsets")  # ... and the offsets never written
    assert (await queries.list(tenant, JobFilter(), 1, 100)).rows == []
    assert await queries.get(tenant, done[0]) is None
    again = Projector(settings, store, topics)
    await again.start()
    assert await again.tail.catch_up(timeout=10)
    page = await queries.list(tenant, JobFilter(), 1, 100)
    assert page.total == 30, "the collapsing table was not written twice"
    assert {row["id"] for row in page.rows} == {e.data.job_id for e in envelopes}
    for e in envelopes:
        row = await queries.get(tenant, e.data.job_id)
        assert row is not None and row["status"] == ("succeeded" if e.data.job_id in done else "pending")
    metrics = await queries.queue_metrics(tenant, queue, *period)
    assert (metrics.succeeded, metrics.avg_ms) == (1, 250.0), "the outcome is back, once, with its time"
    assert await store.scalar("SELECT count() FROM job_outcomes FINAL") == 5
    await again.stop()
    await log.stop()
    await store.close()


async def test_a_store_of_another_version_is_rebuilt_without_its_retired_view(
    broker_settings: Settings, clickhouse_backend: str
) -> None:
    """Version 3 fed jobs_by_time by a materialized view; left behind, it would keep copying jobs rows there."""
    settings = scoped_settings(broker_settings.data_dir, broker_settings.kafka_port,
                               broker_settings.kafka_controller_port, clickhouse_url=clickhouse_backend)
    store = ClickHouseStore(settings)
    await store.open()
    await ensure_schema(store)
    await store.command("CREATE MATERIALIZED VIEW jobs_by_time_view TO jobs_by_time AS SELECT * EXCEPT sign FROM jobs")
    await store.command("TRUNCATE TABLE read_model_meta")  # as an older release left it: only its own version
    await store.command(f"INSERT INTO read_model_meta VALUES ('schema_version', {SCHEMA_VERSION - 1})")

    assert await ensure_schema(store), "another version: the read models are reset"
    views = await store.scalar("SELECT count() FROM system.tables WHERE database = currentDatabase() "
                               "AND name = 'jobs_by_time_view'")
    assert views == 0
    await store.command(
        "INSERT INTO jobs (organization_id, project_id, id, queue_id, created_at, updated_at, version, sign) "
        "VALUES (generateUUIDv4(), generateUUIDv4(), generateUUIDv4(), generateUUIDv4(), now64(6), now64(6), 1, 1)")
    assert await store.scalar("SELECT count() FROM jobs_by_time") == 0, "nothing copies jobs rows any more"
    assert not await ensure_schema(store), "the current version is kept"
    await store.close()
