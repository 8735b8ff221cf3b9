"""An agent whose run fails ends the stream processors' process (``streams/fatal.py``, on every agent of
``streams.app``), with exit code 70 for its supervisor to see; a table recovery that reads nothing for
``TASKFORGE_STREAMS_RECOVERY_STALL_SECONDS`` ends it with 75 (``streams/recovery_watch.py``).

Restarted in place, as faust does by default, the agent would go on after the records its failed run had
not finished, and they would wait (unacknowledged, every later offset uncommitted) until the next
rebalance. Checked with the real application and broker: the application as ``taskforge streams`` builds
it, plus one agent, wrapped the same way, that fails on its first record (early in the start, where
faust's own ``CrashingSupervisor`` had logged the failure and let the process run on); and the same
application whose consumer never resumes the changelog partitions it was given, so that its recovery
waits for a record that does not come.
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
from streams.app import changelog_topic
from streams.fatal import EXIT_CODE, RECOVERY_STALLED_EXIT_CODE
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

_STREAMS_WHOSE_RECOVERY_READS_NOTHING = textwrap.dedent("""
    import faust
    from streams.app import create_streams_app
    from streams.transport import PromptConsumer
    from taskforge.settings import Settings

    resume_partitions = PromptConsumer.resume_partitions

    def resume_all_but_changelogs(self, tps):
        # the fault: the recovery never gets a record from a changelog, as in docs/job-engine.md item 6
        return resume_partitions(self, [tp for tp in tps if not tp.topic.endswith("-changelog")])

    PromptConsumer.resume_partitions = resume_all_but_changelogs
    app = create_streams_app(Settings())
    worker = faust.Worker(app, loglevel="warning", quiet=True)
    worker.spinner = None
    worker.execute_from_commandline()
""")


_STREAMS_WITH_A_SLOW_RECOVERY = textwrap.dedent("""
    import asyncio

    from faust.tables.recovery import Recovery
    from taskforge.cli import main

    seek_offsets = Recovery._seek_offsets

    async def seek_then_dawdle(self, consumer, tps, offsets, title):
        # a busy process: the recovery goes on 300 ms after its seek, while the consumer's thread fetches
        await seek_offsets(self, consumer, tps, offsets, title)
        await asyncio.sleep(0.3)

    Recovery._seek_offsets = seek_then_dawdle
    main(["--log-level", "warning", "streams"])
""")


def run_until_it_ends(script: str, env: dict[str, str], log_path: Path, timeout: float) -> tuple[int, str]:
    """Run ``script`` as the stream processors' process; its exit code and log once it has ended by itself."""
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "-c", script], env=env, stdout=log, stderr=subprocess.STDOUT,
                                   cwd=Path(__file__).parents[2])
    try:
        code = process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise AssertionError(f"still running after {timeout} s:\n{log_path.read_text()[-3000:]}") from None
    return code, log_path.read_text()


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

    code, text = await asyncio.to_thread(run_until_it_ends, _STREAMS_WITH_A_FAILING_AGENT, settings_env(settings),
                                         tmp_path / "streams.log", 60)
    assert code == EXIT_CODE, text[-3000:]
    assert "agent fails failed; ending the process" in text, text[-3000:]
    assert "RuntimeError: failed on b'the record'" in text, text[-3000:]  # the traceback is in the log


async def test_a_recovery_that_reads_nothing_ends_the_process(settings: Settings, tmp_path: Path) -> None:
    """``streams/recovery_watch.py``: with a record to restore that never arrives, the recovery is started over
    after the limit, and the process ends after the limit again with its own exit code, instead of answering 503
    for that partition's jobs until someone restarts it."""
    await ensure_topics(settings, Topics.from_settings(settings))
    topic = changelog_topic(settings, "job-state")
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=settings.topic_partitions, replication_factor=1,
                                            topic_configs={"cleanup.policy": "compact"})])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"{}", key=b"a job", partition=0)  # one record for the recovery to read
    finally:
        await producer.stop()

    env = {**settings_env(settings), "TASKFORGE_STREAMS_RECOVERY_STALL_SECONDS": "3"}
    code, text = await asyncio.to_thread(run_until_it_ends, _STREAMS_WHOSE_RECOVERY_READS_NOTHING, env,
                                         tmp_path / "streams.log", 90)
    assert code == RECOVERY_STALLED_EXIT_CODE, text[-3000:]
    # started over once first (that seeks again, which does not help against this fault), then ended
    started_over = text.find("starting it over")
    ended = text.find("ending the process (exit code 75)")
    assert 0 <= started_over < ended, text[-3000:]
    assert "table recovery made no progress for 3 s (1 changelog records left to read" in text, text[-3000:]
    # the message names the partition and shows why it was not read: the fault above left it paused
    assert f"'{topic}[0]': {{'left': 1, 'fetching': False, 'paused': True, 'read': " in text, text[-3000:]


@pytest.mark.parametrize("recovery", ["as shipped", "slow after its seek"])
def test_a_second_instance_joining_and_leaving_ends_neither(broker_settings: Settings, tmp_path: Path,
                                                            recovery: str) -> None:
    """Rebalances are not failures: the partitions move between the instances and both keep running, and jobs
    are decided (the owners answer) while there are two and after the second leaves, with every table
    recovery ending by itself (``docs/job-engine.md`` item 6: the records of a changelog were fetched and
    dropped, and the recovery waited for them until the watch started it over).

    "slow after its seek" makes the window of that loss wide: before ``streams/transport.py`` kept changelog
    partitions paused until their recovery resumes them, it stalled in three runs of three."""
    settings = scoped_settings(tmp_path, broker_settings.kafka_port, broker_settings.kafka_controller_port,
                               clickhouse_url=None, api_port=free_port())
    script = _STREAMS_WITH_A_SLOW_RECOVERY if recovery == "slow after its seek" else None
    first = StreamsProcess(settings, tmp_path / "first.log", script)
    second = StreamsProcess(settings, tmp_path / "second.log", script)
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
            for log in ("first.log", "second.log"):  # no recovery was left waiting until the watch saw it
                assert "table recovery made no progress" not in (tmp_path / log).read_text(), \
                    (tmp_path / log).read_text()[-3000:]
    finally:
        api.stop()
        second.stop()
        first.stop()
