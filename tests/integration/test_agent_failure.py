"""An agent whose run fails ends the stream processors' process (``streams/fatal.py``, on every agent of
``streams.app``), with exit code 70 for its supervisor to see.

Restarted in place, as faust does by default, the agent would go on after the records its failed run had
not finished, and they would wait (unacknowledged, every later offset uncommitted) until the next
rebalance. Checked with the real application and broker: the application as ``taskforge streams`` builds
it, plus one agent, wrapped the same way, that fails on its first record (early in the start, where
faust's own ``CrashingSupervisor`` had logged the failure and let the process run on).
"""
from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from producers.topics import Topics, ensure_topics
from streams.fatal import EXIT_CODE
from taskforge.settings import Settings
from tests.support import (
    AUTH, ApiProcess, StreamsProcess, free_port, scoped_settings, settings_env, stable_members, wait_sync,
)

pytestmark = pytest.mark.integration

_STREAMS_WITH_A_FAILING_AGENT = textwrap.dedent("""
    import faust
    from streams.app import create_streams_app
    from streams.fatal import ending_the_process_on_failure
    from taskforge.settings import Settings

    settings = Settings()
    app = create_streams_app(settings)

    @app.agent(app.topic(f"{settings.topic_prefix}.fails", key_type=bytes, value_type=bytes), name="fails")
    @ending_the_process_on_failure
    async def fails(stream):
        async for value in stream:
            raise RuntimeError(f"failed on {value!r}")

    worker = faust.Worker(app, loglevel="warning", quiet=True)
    worker.spinner = None
    worker.execute_from_commandline()
""")


async def test_an_agent_that_fails_ends_the_process(settings: Settings, tmp_path: Path) -> None:
    await ensure_topics(settings, Topics.from_settings(settings))
    topic = f"{settings.topic_prefix}.fails"
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"the record", key=b"k")  # read from the start by the new group
    finally:
        await producer.stop()

    log_path = tmp_path / "streams.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "-c", _STREAMS_WITH_A_FAILING_AGENT], env=settings_env(settings),
                                   stdout=log, stderr=subprocess.STDOUT, cwd=Path(__file__).parents[2])
    try:
        code = await asyncio.to_thread(process.wait, 60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise AssertionError(f"still running after the agent failed:\n{log_path.read_text()[-3000:]}") from None
    text = log_path.read_text()
    assert code == EXIT_CODE, text[-3000:]
    assert "agent fails failed; ending the process" in text, text[-3000:]
    assert "RuntimeError: failed on b'the record'" in text, text[-3000:]  # the traceback is in the log


def test_a_second_instance_joining_and_leaving_ends_neither(broker_settings: Settings, tmp_path: Path) -> None:
    """Rebalances are not failures: the partitions move between the instances and both keep running, and jobs
    are decided (the owners answer) while there are two and after the second leaves."""
    settings = scoped_settings(tmp_path, broker_settings.kafka_port, broker_settings.kafka_controller_port,
                               clickhouse_url=None, api_port=free_port())
    first, second = StreamsProcess(settings, tmp_path / "first.log"), StreamsProcess(settings, tmp_path / "second.log")
    api = ApiProcess(settings, tmp_path / "api.log")
    first.start()
    api.start()
    try:
        with httpx.Client(base_url=api.base_url, headers=AUTH, timeout=10) as client:
            def submitted(name: str) -> bool:  # 503 while the job's partition has no owner running
                return client.post("/api/v1/jobs", json={"queue_name": "scale", "job_type": "t",
                                                         "idempotency_key": name}).status_code in (200, 201)

            def submitted_all(stage: str) -> bool:  # keys spread over the partitions of both instances
                return all(submitted(f"{stage}-{i}") for i in range(6))

            wait_sync(lambda: client.post("/api/v1/queues", json={"name": "scale"}).status_code in (201, 409),
                      timeout=90, interval=0.5)
            wait_sync(lambda: submitted_all("one"), timeout=90, interval=0.5)
            second.start()
            wait_sync(lambda: stable_members(settings) == 2, timeout=90, interval=0.5)
            wait_sync(lambda: submitted_all("two"), timeout=90, interval=0.5)
            first.assert_alive()
            second.assert_alive()
            second.stop()
            assert second.process.returncode == 0, (tmp_path / "second.log").read_text()[-3000:]
            wait_sync(lambda: stable_members(settings) == 1, timeout=90, interval=0.5)
            wait_sync(lambda: submitted_all("one-again"), timeout=90, interval=0.5)
            first.assert_alive()
    finally:
        api.stop()
        second.stop()
        first.stop()
