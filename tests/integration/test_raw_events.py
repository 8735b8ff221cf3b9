"""What the API writes, as any Kafka consumer sees it."""

from __future__ import annotations

import uuid

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaConsumer

from producers.topics import Topics
from taskforge.settings import BOOTSTRAP_KEY_ID, Settings
from tests.support import AUTH

pytestmark = pytest.mark.integration


async def read_all(settings: Settings, topic: str) -> list:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=settings.bootstrap_servers, group_id=None,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    try:
        records = []
        while True:
            batch = await consumer.getmany(timeout_ms=1000)
            if not batch:
                return records
            for messages in batch.values():
                records.extend(messages)
    finally:
        await consumer.stop()


async def test_job_submitted_on_the_wire(api: httpx.AsyncClient, settings: Settings) -> None:
    queue = (await api.post("/api/v1/queues", json={"name": "wire"}, headers=AUTH)).json()["data"]
    response = await api.post("/api/v1/jobs", headers={**AUTH, "X-Request-ID": "wire-test-1"},
                              json={"queue_name": "wire", "job_type": "resize", "payload": {"w": 640}, "priority": 4})
    assert response.status_code == 201
    job = response.json()["data"]

    records = [r for r in await read_all(settings, Topics.from_settings(settings).job_events)
               if r.key == job["id"].encode()]
    assert len(records) == 1, "exactly one event for one submission"
    record = records[0]
    headers = dict(record.headers)
    assert headers["event_type"] == b"JobSubmitted"
    assert headers["schema_version"] == b"1"
    assert headers["correlation_id"] == b"wire-test-1"
    doc = orjson.loads(record.value)
    assert doc["event_id"] == headers["event_id"].decode()
    assert doc["event_type"] == "JobSubmitted" and doc["schema_version"] == 1
    assert doc["aggregate_id"] == job["id"]
    assert doc["correlation_id"] == "wire-test-1" == response.json()["request_id"]
    assert doc["sequence"] == 1, "the owner numbers its job's events"
    uuid.UUID(doc["causation_id"])  # the command it decided
    # the tenant comes from the credentials
    assert doc["organization_id"] == str(settings.bootstrap_organization_id)
    assert doc["project_id"] == str(settings.bootstrap_project_id)
    assert doc["actor"] == f"api_key:{BOOTSTRAP_KEY_ID}"  # who: the key's id, never the key
    assert TEST_KEY_NOT_IN(doc)
    data = doc["data"]
    assert data == {
        "job_id": job["id"], "queue_id": queue["id"], "queue_name": "wire", "job_type": "resize",
        "payload": {"w": 640}, "priority": 4, "max_attempts": 4, "scheduled_for": None, "idempotency_key": None,
        "status": "pending", "dead_letter_of": None,
        "policy": {"timeout_seconds": 300, "retry_delay_seconds": 30, "max_retry_delay_seconds": 300,
                   "backoff_multiplier": 2.0, "dead_letter_queue_id": None, "dead_letter_queue_name": None},
    }
    uuid.UUID(doc["event_id"])


def TEST_KEY_NOT_IN(doc: dict) -> bool:  # noqa: N802 - reads as a sentence in the assert
    """The credential itself never reaches the log."""
    return AUTH["Authorization"].split()[1] not in orjson.dumps(doc).decode()


async def test_queue_events_go_to_the_compacted_topic(api: httpx.AsyncClient, settings: Settings) -> None:
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    queue = (await api.post("/api/v1/queues", json={"name": "compact-me"}, headers=AUTH)).json()["data"]
    topics = Topics.from_settings(settings)
    records = [r for r in await read_all(settings, topics.queue_events) if r.key == queue["id"].encode()]
    assert [dict(r.headers)["event_type"] for r in records] == [b"QueueCreated"]

    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    await admin.start()
    try:
        described = await admin.describe_configs([
            ConfigResource(ConfigResourceType.TOPIC, topics.queue_events),
            ConfigResource(ConfigResourceType.TOPIC, topics.job_events),
        ])
        configs = {}
        for response in described:
            for resource in response.resources:
                configs[resource[3]] = {entry[0]: entry[1] for entry in resource[4]}
        assert configs[topics.queue_events]["cleanup.policy"] == "compact"
        assert configs[topics.job_events]["cleanup.policy"] == "delete"
        assert configs[topics.job_events]["retention.ms"] == "-1"
        metadata = await admin.describe_topics([topics.job_events])
        assert len(metadata[0]["partitions"]) == settings.topic_partitions
    finally:
        await admin.close()
