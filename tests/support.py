"""Helpers shared by the test layers: free ports, settings for a test, waiting on conditions."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
from pydantic import SecretStr

from producers.event_log import KafkaEventLog
from producers.topics import Topics, ensure_topics
from taskforge.settings import Settings

T = TypeVar("T")
TEST_API_KEY = "tf_" + "t" * 40
TEST_JWT_SECRET = "test-jwt-secret-" + "s" * 32
PRODUCTION_LIMITS = {name: Settings.model_fields[name].default for name in (
    "rate_limit_read_per_hour", "rate_limit_write_per_hour", "rate_limit_ip_per_hour",
    "rate_limit_worker_per_hour", "kafka_publish_timeout_seconds")}
"""The shipped defaults of what the suite sets tighter or looser (rate budgets, Kafka's acknowledgement
timeout), for benchmarks that must measure the platform as it ships."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def changelog_entries(settings: Settings, table: str = "job-state") -> dict[str, bytes | None]:
    """Each key's last record in a stream-processor table's changelog topic, read from the start (None: a
    tombstone, the entry was deleted)."""
    from aiokafka import AIOKafkaConsumer

    from streams.app import changelog_topic

    consumer = AIOKafkaConsumer(changelog_topic(settings, table), bootstrap_servers=settings.bootstrap_servers,
                                group_id=None, auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    try:
        entries: dict[str, bytes | None] = {}
        while batch := await consumer.getmany(timeout_ms=500):
            for messages in batch.values():
                for m in messages:
                    entries[m.key.decode()] = m.value
        return entries
    finally:
        await consumer.stop()


def scoped_settings(data_dir: Path, kafka_port: int, controller_port: int, **overrides: Any) -> Settings:
    """Settings for one test scope: its own topic prefix and ClickHouse database."""
    unique = uuid.uuid4().hex[:10]
    values: dict[str, Any] = {
        "env": "test",
        "data_dir": data_dir,
        "kafka_port": kafka_port,
        "kafka_controller_port": controller_port,
        "kafka_heap": "384m",
        "topic_prefix": f"t{unique}",
        "topic_partitions": 3,
        "clickhouse_url": f"chdb://{data_dir / 'clickhouse'}",
        "clickhouse_database": f"t{unique}",
        "clickhouse_pool_size": 2,
        "kafka_publish_timeout_seconds": 2.0,
        "bootstrap_api_key": SecretStr(TEST_API_KEY),
        "jwt_secret": SecretStr(TEST_JWT_SECRET),
        # argon2id still, with the lightest parameters the settings allow: tests log in often
        "password_hash_time_cost": 1,
        "password_hash_memory_kib": 8192,
        # the suite's own traffic shares one key per module; the rate-limit tests set their own limits
        "rate_limit_read_per_hour": 10_000_000,
        "rate_limit_write_per_hour": 10_000_000,
        "rate_limit_ip_per_hour": 10_000_000,
        "api_port": free_port(),
        # the dispatchers' periodic sweep is a safety net: the suite runs with it ten seconds apart, so a lease
        # call that only the sweep would answer (rather than a record or its deadline's alarm) fails or stalls
        "dispatch_interval_ms": 10_000,
    }
    values.update(overrides)
    return Settings(**values)


async def fresh_log(broker_settings: Settings, **overrides: Any) -> tuple[Settings, Topics, KafkaEventLog]:
    """New topics (and a new ClickHouse database) on the session broker, and a started event log writing to them."""
    settings = scoped_settings(broker_settings.data_dir, broker_settings.kafka_port,
                               broker_settings.kafka_controller_port, **overrides)
    topics = Topics.from_settings(settings)
    await ensure_topics(settings, topics)
    log = KafkaEventLog(settings)
    await log.start()
    return settings, topics, log


async def eventually(check: Callable[[], Awaitable[T]], timeout: float = 10.0, interval: float = 0.05) -> T:
    """Await ``check`` until it returns a truthy value or raises nothing falsy past the deadline."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last value: {last!r})")


async def until_listed(api: httpx.AsyncClient, queue_id: str, count: int, timeout: float = 10.0) -> None:
    """Wait until ``GET /jobs`` lists ``count`` jobs of the queue.

    Lists trail the log by the projector's lag; a read by id waits only when it misses, so it
    is no barrier for jobs on other partitions.
    """

    async def listed() -> bool:
        body = (await api.get("/api/v1/jobs", params={"queue_id": queue_id, "limit": 1}, headers=AUTH)).json()
        return body["data"]["pagination"]["total"] >= count

    await eventually(listed, timeout=timeout)


def wait_sync(check: Callable[[], T], timeout: float = 10.0, interval: float = 0.05) -> T:
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last value: {last!r})")


AUTH = {"Authorization": f"Bearer {TEST_API_KEY}"}


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that makes a child process build exactly these settings."""
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKFORGE_")}
    for name in Settings.model_fields:
        value = getattr(settings, name)
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        env[f"TASKFORGE_{name.upper()}"] = json.dumps(value) if isinstance(value, list | dict) else str(value)
    return env


class ApiProcess:
    """``taskforge api`` as a real child process, for tests of crashes and restarts."""

    def __init__(self, settings: Settings, log_path: Path) -> None:
        self.settings = settings
        self.log_path = log_path
        self.base_url = f"http://{settings.api_host}:{settings.api_port}"
        self.process: Any = None

    def start(self, timeout: float = 60.0) -> None:
        import sys

        import httpx

        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it
        self.process = subprocess.Popen([sys.executable, "-m", "taskforge.cli", "--log-level", "warning", "api"],
                                        env=settings_env(self.settings), stdout=log, stderr=subprocess.STDOUT)

        def ready() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"API exited with {self.process.returncode}: {self.log_path.read_text()[-3000:]}")
            try:
                return httpx.get(f"{self.base_url}/ready", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        try:
            wait_sync(ready, timeout=timeout, interval=0.1)
        except AssertionError:
            self.stop()  # not left running (and spinning on a broker that goes away) after its test has failed
            raise

    def kill(self) -> None:
        """SIGKILL: a crash, with no chance to flush or clean up."""
        self.process.kill()
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()  # not left running; and an API that does not hear SIGTERM is a fault to see
                self.process.wait()
                raise AssertionError(f"API did not stop within 30 s of SIGTERM: {self.log_path.read_text()[-3000:]}")


class StreamsProcess:
    """``taskforge streams`` (the faust worker) as a real child process."""

    def __init__(self, settings: Settings, log_path: Path, script: str | None = None) -> None:
        """``script``: Python source to run instead of ``taskforge streams`` (the app with a fault injected)."""
        self.settings = settings
        self.log_path = log_path
        self.script = script
        self.process: Any = None

    def start(self) -> None:
        import sys

        command = (["-c", self.script] if self.script is not None
                   else ["-m", "taskforge.cli", "--log-level", "warning", "streams"])
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it
        self.process = subprocess.Popen([sys.executable, *command], env=settings_env(self.settings), stdout=log,
                                        stderr=subprocess.STDOUT, cwd=Path(__file__).parents[1])

    def assert_alive(self) -> None:
        if self.process.poll() is not None:
            raise AssertionError(f"streams exited with {self.process.returncode}: {self.log_path.read_text()[-3000:]}")

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:  # a hung worker is killed; the test's own outcome stands
                self.process.kill()
                self.process.wait()


def stable_members(settings: Settings) -> int:
    """How many members the stream processors' consumer group has once it is stable (0 before: while it
    rebalances, or before the broker has a coordinator for it)."""
    import asyncio

    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.errors import GroupCoordinatorNotAvailableError

    from streams.app import app_id

    async def describe() -> int:
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
        await admin.start()
        try:
            (response,) = await admin.describe_consumer_groups([app_id(settings)])
        except GroupCoordinatorNotAvailableError:
            return 0
        finally:
            await admin.close()
        (group,) = response.groups
        _error, _group_id, state, _protocol_type, _protocol, members = group[:6]
        return len(members) if state == "Stable" else 0

    return asyncio.run(describe())


async def wait_for_owner(bus: Any, timeout: float = 90.0) -> None:
    """Until the job owner answers: a cancel for a job that does not exist comes back 'not_found'."""
    from datetime import UTC, datetime

    from producers.command_bus import OwnerDidNotAnswer
    from schemas.commands import CommandEnvelope
    from schemas.envelope import Tenant
    from schemas.job import CancelJob

    probe_tenant = Tenant(organization_id=uuid.uuid4(), project_id=uuid.uuid4())
    deadline = time.monotonic() + timeout
    while True:
        probe = CommandEnvelope.of(CancelJob(job_id=uuid.uuid4()), tenant=probe_tenant, issued_at=datetime.now(UTC))
        try:
            reply = await bus.send(probe)
            assert reply.refusal == "not_found"
            return
        except OwnerDidNotAnswer:
            if time.monotonic() > deadline:
                raise


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert body["request_id"] == response.headers["x-request-id"]
    assert body["timestamp"].endswith("Z")
    return body


@contextmanager
def running_stack(broker_settings: Settings, data_dir: Path,
                  **overrides: Any) -> Iterator[tuple[Settings, StreamsProcess, ApiProcess]]:
    """The stream processors and the API as real processes of their own (own topics, embedded ClickHouse in
    ``data_dir``) on the suite's broker, for tests that stop, restart or configure them; stopped at the end."""
    settings = scoped_settings(data_dir, broker_settings.kafka_port, broker_settings.kafka_controller_port,
                               **{"clickhouse_url": None, "api_port": free_port(), **overrides})
    streams = StreamsProcess(settings, data_dir / "streams.log")
    api = ApiProcess(settings, data_dir / "api.log")
    streams.start()
    try:
        api.start()
        yield settings, streams, api
    finally:
        api.stop()
        streams.stop()
