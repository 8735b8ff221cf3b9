"""A table entry this build cannot read (a corrupted record, or one written by an incompatible version) costs
that one job, not the stream processors: they start, the job's commands are refused as ``internal``, and
every other job is decided as usual. Before, the entry stopped the owners at every start."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from schemas.packs import partition_of
from streams.app import changelog_topic
from streams.tables import queue_key
from taskforge.settings import Settings
from tests.support import AUTH, assert_error, running_stack, wait_sync

pytestmark = pytest.mark.integration


async def overwrite_entries(settings: Settings, job_id: str, queue_id: str) -> None:
    """Unreadable values for the job's entries in both tables' changelogs, where the tables would put them."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers)
    await producer.start()
    try:
        job_key = job_id.encode()
        await producer.send_and_wait(changelog_topic(settings, "job-state"), b'{"not": "a job"}', key=job_key,
                                     partition=partition_of(job_key, settings.topic_partitions))
        dispatch_key = queue_key(queue_id, "job", job_id)
        await producer.send_and_wait(changelog_topic(settings, "dispatch-state"), b"not json", key=dispatch_key,
                                     partition=partition_of(queue_id.encode(), settings.topic_partitions))
    finally:
        await producer.stop()


def test_an_unreadable_table_entry_costs_its_job_only(broker_settings: Settings, tmp_path: Path) -> None:
    with running_stack(broker_settings, tmp_path) as (settings, streams, api):
        with httpx.Client(base_url=api.base_url, headers=AUTH, timeout=10) as client:
            def queue_created() -> dict | None:
                response = client.post("/api/v1/queues", json={"name": "tables"})
                return response.json()["data"] if response.status_code == 201 else None

            queue = wait_sync(queue_created, timeout=90, interval=0.5)
            job = client.post("/api/v1/jobs", json={"queue_name": "tables", "job_type": "t"}).json()["data"]
            streams.stop()
            asyncio.run(overwrite_entries(settings, job["id"], queue["id"]))
            streams.start()

            def submitted() -> dict | None:  # 503 until the restarted owners run
                response = client.post("/api/v1/jobs", json={"queue_name": "tables", "job_type": "t",
                                                             "idempotency_key": "after"})
                return response.json()["data"] if response.status_code in (200, 201) else None

            other = wait_sync(submitted, timeout=90, interval=0.5)
            assert_error(client.post(f"/api/v1/jobs/{job['id']}/cancel"), 500, "INTERNAL_ERROR")
            cancelled = client.post(f"/api/v1/jobs/{other['id']}/cancel")
            assert cancelled.status_code == 200 and cancelled.json()["data"]["status"] == "cancelled", cancelled.text
            assert client.post(f"/api/v1/jobs/{uuid.uuid4()}/cancel").status_code == 404
            streams.assert_alive()
        log = (tmp_path / "streams.log").read_text()
        assert f"the table entry of job {job['id']} cannot be read" in log
        assert "dispatcher: the table entry" in log
