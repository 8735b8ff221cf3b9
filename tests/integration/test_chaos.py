"""Kill -9 the stream processors in the middle of 2,000 jobs with random failures, restart them,
and check from the event history that nothing was lost, doubled or left hanging."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer

from producers.topics import Topics
from schemas.envelope import EventEnvelope, decode
from schemas.job import TERMINAL_STATUSES, JobLeased
from streams.deciders.job import JobState, evolve
from taskforge.settings import Settings
from taskforge_sdk import TaskForgeClient, Worker
from tests.support import TEST_API_KEY, ApiProcess, StreamsProcess, eventually, free_port, scoped_settings

pytestmark = pytest.mark.integration
JOBS = 2_000


async def job_history(settings: Settings, job_ids: set[str]) -> dict[str, list[EventEnvelope]]:
    consumer = AIOKafkaConsumer(Topics.from_settings(settings).job_events, bootstrap_servers=settings.bootstrap_servers,
                                group_id=None, auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    history: dict[str, list[EventEnvelope]] = defaultdict(list)
    try:
        while batch := await consumer.getmany(timeout_ms=2000, max_records=20_000):
            for messages in batch.values():
                for message in messages:
                    if message.key.decode() in job_ids:
                        envelope = decode(message.value)
                        assert isinstance(envelope, EventEnvelope)
                        history[message.key.decode()].append(envelope)
    finally:
        await consumer.stop()
    return history


async def test_a_crash_of_the_stream_processors_loses_and_doubles_nothing(broker_settings: Settings, tmp_path: Path) -> None:
    settings = scoped_settings(tmp_path, broker_settings.kafka_port, broker_settings.kafka_controller_port,
                               clickhouse_url=None, api_port=free_port())
    streams, api = StreamsProcess(settings, tmp_path / "streams.log"), ApiProcess(settings, tmp_path / "api.log")
    streams.start()
    api.start()
    workers: list[Worker] = []
    running: list[asyncio.Task[None]] = []
    try:
        async with TaskForgeClient(api.base_url, TEST_API_KEY) as client:
            async def owner_answers() -> bool:
                try:
                    await client.request("POST", f"/jobs/{uuid.uuid4()}/cancel")
                except Exception as exc:  # noqa: BLE001 - 404 means the owner answered
                    return getattr(exc, "status", 0) == 404
                return False

            await eventually(owner_answers, timeout=90, interval=0.5)
            queue = await client.create_queue("chaos", settings={
                "max_concurrent_jobs": 200, "timeout_seconds": 5, "retry_delay_seconds": 0,
                "max_retry_delay_seconds": 0})
            rng = random.Random(7)
            for n in range(2):
                worker = Worker(api.base_url, TEST_API_KEY, queues=["chaos"], concurrency=50, lease_wait=1,
                                name=f"chaos-{n}", heartbeat_interval=5)

                @worker.task("maybe")
                async def maybe(payload: dict[str, Any]) -> int:
                    await asyncio.sleep(rng.random() * 0.02)
                    if rng.random() < 0.3:
                        raise RuntimeError("random failure")
                    return payload["i"]

                workers.append(worker)
                running.append(asyncio.create_task(worker.run_async()))

            ids: list[str] = []
            for start in range(0, JOBS, 1000):
                batch = await client.submit_batch([
                    {"queue_name": "chaos", "job_type": "maybe", "payload": {"i": i}, "max_attempts": 3}
                    for i in range(start, start + 1000)])
                assert batch["submitted"] == 1000
                ids.extend(r["job"]["id"] for r in batch["results"])

            async def terminal_count() -> int:
                total = 0
                for status in ("succeeded", "failed"):
                    listed = await client.request("GET", f"/jobs?queue_id={queue['id']}&status={status}&limit=1")
                    total += listed["pagination"]["total"]
                return total

            await eventually(lambda: _at_least(terminal_count, JOBS * 3 // 10), timeout=120, interval=0.2)
            streams.kill()  # mid-run, no goodbye
            await asyncio.sleep(1)
            streams.start()
            await eventually(lambda: _at_least(terminal_count, JOBS), timeout=240, interval=1)
    finally:
        for worker in workers:
            worker.stop()
        await asyncio.gather(*running, return_exceptions=True)

    history = await job_history(settings, set(ids))
    read_model: dict[str, str] = {}
    async with TaskForgeClient(api.base_url, TEST_API_KEY) as client:
        for status in ("succeeded", "failed"):
            page = 1
            while True:
                listed = await client.request("GET", f"/jobs?queue_id={queue['id']}&status={status}&limit=100&page={page}")
                read_model.update({j["id"]: j["status"] for j in listed["jobs"]})
                if page >= listed["pagination"]["pages"]:
                    break
                page += 1
    api.stop()
    streams.stop()

    assert set(history) == set(ids), "every job has its history"
    redelivered = 0
    for job_id, envelopes in history.items():
        unique: dict[uuid.UUID, EventEnvelope] = {}
        for envelope in envelopes:
            if envelope.event_id in unique:
                redelivered += 1
                assert orjson.dumps(unique[envelope.event_id].model_dump()) == orjson.dumps(envelope.model_dump()), \
                    "a redelivered decision repeats the same event exactly"
            unique[envelope.event_id] = envelope
        ordered = sorted(unique.values(), key=lambda e: e.sequence or 0)
        assert [e.sequence for e in ordered] == list(range(1, len(ordered) + 1)), \
            f"job {job_id}: no transition lost or applied twice"
        state: JobState | None = None
        live_leases = 0
        for envelope in ordered:
            state = evolve(state, envelope.data)  # raises on any transition the table forbids
            if isinstance(envelope.data, JobLeased):
                live_leases += 1
                assert live_leases == 1, f"job {job_id}: two live leases"
            if state is not None and state.lease is None:
                live_leases = 0
        assert state is not None and state.status in TERMINAL_STATUSES, f"job {job_id} ended {state and state.status}"
        assert state.attempt_count <= 3
        assert read_model[job_id] == state.status.value, "the read model agrees with the log"
    print(f"\nchaos: {JOBS} jobs terminal; {redelivered} redelivered events deduplicated by id")


async def _at_least(count: Any, target: int) -> bool:
    return await count() >= target


