"""Kafka stops: writes answer 503 within a bounded time, nothing they carried is ever recorded, and the Kafka
client's reconnect errors are logged once per kind per window rather than hundreds of times a second."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from api.app import create_app
from api.context import BOOTSTRAP_RETRY_SECONDS
from infra.kafka.broker import LocalBroker
from producers.topics import Topics
from schemas.packs import unpacked
from taskforge.repeated_logs import KAFKA_CLIENT_LOGGER, WINDOW_SECONDS, quiet_repeated_kafka_client_errors
from taskforge.settings import Settings
from tests.support import AUTH, StreamsProcess, eventually, free_port, scoped_settings, wait_for_owner

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def own_broker(session_dir: Path) -> Iterator[LocalBroker]:
    """A broker this module may stop and start without disturbing the others."""
    settings = scoped_settings(session_dir / "kafka-down", free_port(), free_port(),
                               clickhouse_url=f"chdb://{session_dir / 'clickhouse'}")
    broker = LocalBroker(settings)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


async def correlation_ids(settings: Settings, topic: str) -> list[str]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=settings.bootstrap_servers, group_id=None,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    try:
        found = []
        while batch := await consumer.getmany(timeout_ms=1500):
            for messages in batch.values():
                found.extend(doc["correlation_id"] for m in messages for doc in unpacked(m.value))
        return found
    finally:
        await consumer.stop()


async def test_writes_answer_503_while_kafka_is_down_and_leave_no_trace(own_broker: LocalBroker, tmp_path: Path,
                                                                       caplog: pytest.LogCaptureFixture) -> None:
    kafka_client = logging.getLogger(KAFKA_CLIENT_LOGGER)
    filters_before = list(kafka_client.filters)
    quiet_repeated_kafka_client_errors()  # as every taskforge command does at its start
    streams = StreamsProcess(own_broker.settings, tmp_path / "streams.log")
    streams.start()
    try:
        await _outage(own_broker, caplog)
    finally:
        streams.stop()
        kafka_client.filters[:] = filters_before


async def _outage(own_broker: LocalBroker, caplog: pytest.LogCaptureFixture) -> None:
    settings = own_broker.settings
    topics = Topics.from_settings(settings)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        await wait_for_owner(app.state.context.commands)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t", timeout=30) as api:
            assert (await api.post("/api/v1/queues", json={"name": "q"}, headers=AUTH)).status_code == 201
            before = await api.post("/api/v1/jobs", json={"queue_name": "q", "job_type": "t"},
                                    headers={**AUTH, "X-Request-ID": "before-outage"})
            assert before.status_code == 201

            await asyncio.to_thread(own_broker.stop)
            outage_began = time.monotonic()
            caplog.clear()
            started = time.monotonic()
            refused = await api.post("/api/v1/jobs", json={"queue_name": "q", "job_type": "t"},
                                     headers={**AUTH, "X-Request-ID": "during-outage-1"})
            elapsed = time.monotonic() - started
            assert refused.status_code == 503, refused.text
            body = refused.json()
            assert body["success"] is False and body["error"]["code"] == "SERVICE_UNAVAILABLE"
            assert refused.headers["retry-after"] == "1"
            assert elapsed < settings.kafka_publish_timeout_seconds + 2, f"took {elapsed:.1f}s"

            quick = time.monotonic()
            second = await api.post("/api/v1/queues", json={"name": "during-outage"},
                                    headers={**AUTH, "X-Request-ID": "during-outage-2"})
            assert second.status_code == 503
            assert time.monotonic() - quick < settings.kafka_publish_timeout_seconds + 2
            assert (await api.get("/ready")).status_code == 503

            await asyncio.to_thread(own_broker.start)

            async def ready() -> bool:
                return (await api.get("/ready")).status_code == 200

            await eventually(ready, timeout=30, interval=0.2)
            outage = time.monotonic() - outage_began
            client_errors = Counter(r.msg for r in caplog.records
                                    if r.name == KAFKA_CLIENT_LOGGER and r.levelno >= logging.ERROR)
            assert client_errors, "the outage is in the log"  # the first of each kind always passes
            most = outage / WINDOW_SECONDS + 1
            assert all(n <= most for n in client_errors.values()), (outage, client_errors)
            await wait_for_owner(app.state.context.commands)  # the faust worker rejoined after the outage
            after = await api.post("/api/v1/jobs", json={"queue_name": "q", "job_type": "t"},
                                   headers={**AUTH, "X-Request-ID": "after-outage"})
            assert after.status_code == 201, after.text

            jobs = await correlation_ids(settings, topics.job_events)
            commands = await correlation_ids(settings, topics.job_commands)
            queues = await correlation_ids(settings, topics.queue_events)
            assert "during-outage-1" not in jobs and "during-outage-1" not in commands
            assert "during-outage-2" not in queues
            assert jobs.count("before-outage") == 1 and jobs.count("after-outage") == 1
            listing = (await api.get("/api/v1/jobs", headers=AUTH)).json()["data"]
            assert listing["pagination"]["total"] == 2


async def test_an_api_still_registering_its_bootstrap_key_keeps_serving_while_kafka_is_down_and_stops_cleanly(
        own_broker: LocalBroker, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """No stream processors run, so the bootstrap key's registration is retried; with Kafka down the event log
    refuses at once without suspending. Those retries are paced (``BOOTSTRAP_RETRY_SECONDS``) and the API goes
    on answering: retried without a pause, they held the event loop (no request served, SIGTERM unheard).
    Its shutdown, still with Kafka down, runs to the end (``producers/consumers.py``: aiokafka's consumer stop
    had raised ``CancelledError`` there, and the stops after it never ran)."""
    settings = scoped_settings(tmp_path, own_broker.settings.kafka_port, own_broker.settings.kafka_controller_port,
                               clickhouse_url=own_broker.settings.clickhouse_url, command_timeout_seconds=1.0)
    caplog.set_level(logging.INFO, logger="api.context")
    app = create_app(settings)
    try:
        async with app.router.lifespan_context(app):
            await asyncio.to_thread(own_broker.stop)
            caplog.clear()
            began = time.monotonic()
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as api:
                while time.monotonic() - began < 3 * settings.kafka_publish_timeout_seconds + 2:
                    assert (await api.get("/health")).status_code == 200
                    await asyncio.sleep(0.5)
            waited = time.monotonic() - began
            attempts = sum("bootstrap: waiting for the identity owner" in r.getMessage() for r in caplog.records)
            assert 1 <= attempts <= waited / BOOTSTRAP_RETRY_SECONDS + 1, (attempts, waited)
        # reached only if the shutdown above, with Kafka down, ended without an error
    finally:
        await asyncio.to_thread(own_broker.start)
