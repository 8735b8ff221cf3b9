"""``taskforge dev``: the whole system on one machine, from one command.

It starts the local Kafka (unless one already runs on this data directory), makes sure
a bootstrap API key exists, starts the stream processors as a child process, then
serves the API with its projector in this process. A child that exits on its own (a crash,
a kill) is started again, after a pause that grows while it keeps failing, as systemd or
Kubernetes would do in production. Ctrl-C stops the API, then whatever this command itself
started, by PID.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import uvicorn
from pydantic import SecretStr

from api.app import create_app
from api.credentials import new_api_key
from infra.kafka.broker import LocalBroker
from producers.topics import Topics, ensure_topics
from taskforge.settings import Settings

log = logging.getLogger(__name__)
def kept_secret(settings: Settings, name: str, make: Callable[[], str]) -> tuple[str, str]:
    """The secret this data directory was given before, or a new one kept in ``<data dir>/<name>``
    (mode 0600), so that a restarted dev system answers to the same credentials."""
    path: Path = settings.data_dir / name
    if path.exists():
        return path.read_text().strip(), str(path)
    value = make()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    return value, f"{path} (new)"


def bootstrap_key(settings: Settings) -> tuple[str, str]:
    """The configured bootstrap key, or the one kept in ``<data dir>/bootstrap-api-key``."""
    if settings.bootstrap_api_key is not None:
        return settings.bootstrap_api_key.get_secret_value(), "TASKFORGE_BOOTSTRAP_API_KEY"
    return kept_secret(settings, "bootstrap-api-key", lambda: new_api_key().value)


def with_dev_secrets(settings: Settings) -> tuple[Settings, str, str]:
    """Settings carrying the bootstrap key and a JWT secret that survive restarts of the dev system."""
    key, key_source = bootstrap_key(settings)
    update: dict[str, SecretStr] = {"bootstrap_api_key": SecretStr(key)}
    if settings.jwt_secret is None:
        update["jwt_secret"] = SecretStr(kept_secret(settings, "jwt-secret", lambda: secrets.token_urlsafe(48))[0])
    return settings.model_copy(update=update), key, key_source


def _banner(settings: Settings, key: str, key_source: str) -> str:
    base = f"http://{settings.api_host}:{settings.api_port}"
    return "\n".join([
        "",
        "TaskForge is running.",
        f"  API            {base}/api/v1",
        f"  Swagger UI     {base}/docs",
        f"  health/ready   {base}/health  {base}/ready",
        f"  Kafka          {settings.bootstrap_servers}",
        f"  streams        faust worker, log in {settings.run_dir / 'streams.log'}",
        f"  demo worker    queue 'demo': send_email, resize_image, flaky, noop; log in "
        f"{settings.run_dir / 'demo-worker.log'}",
        f"  ClickHouse     {settings.clickhouse_dsn}",
        f"  data dir       {settings.data_dir}",
        f"  bootstrap key  {key}   (from {key_source})",
        "",
        f"  try: curl -H 'Authorization: Bearer {key}' -H 'Content-Type: application/json' {base}/api/v1/jobs \\",
        "         -d '{\"queue_name\": \"demo\", \"job_type\": \"send_email\", \"payload\": {\"to\": \"a@b.c\"}}'",
        "  Ctrl-C stops everything this command started.",
        "",
    ])


def _child_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update({f"TASKFORGE_{name.upper()}": str(getattr(settings, name)) for name in ("data_dir", "kafka_port",
                "kafka_controller_port", "topic_prefix", "topic_partitions", "topic_replication_factor")})
    env["TASKFORGE_KAFKA_BOOTSTRAP_SERVERS"] = settings.bootstrap_servers
    return env


def start_streams(settings: Settings, log_level: str) -> subprocess.Popen[bytes]:
    """The faust worker, as a child with its own PID file and log under ``<data dir>/run``."""
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    log_file = open(settings.run_dir / "streams.log", "ab")  # noqa: SIM115 - the child owns it
    child = subprocess.Popen([sys.executable, "-m", "taskforge.cli", "--log-level", log_level, "streams"],
                             env=_child_env(settings), stdout=log_file, stderr=subprocess.STDOUT)
    (settings.run_dir / "streams.pid").write_text(str(child.pid))
    return child


def stop_child(child: subprocess.Popen[bytes], pid_file: Path, timeout: float = 30.0) -> None:
    if child.poll() is None:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    pid_file.unlink(missing_ok=True)


RESTART_DELAY_MAX_SECONDS = 30.0
STABLE_AFTER_SECONDS = 60.0
"""A child that ran this long before exiting is restarted after the shortest pause again."""


def restart_delay(failures: int) -> float:
    """1, 2, 4, ... up to 30 s after the 1st, 2nd, 3rd ... exit in a row: a child that cannot start (a bad
    setting, a port taken) does not spin, and one that crashed once is back within a second."""
    return min(RESTART_DELAY_MAX_SECONDS, 2.0 ** max(0, failures - 1))


@dataclass
class Child:
    """A process ``taskforge dev`` keeps running, and how to start it again."""

    name: str
    pid_file: Path
    start: Callable[[], subprocess.Popen[bytes]]
    process: subprocess.Popen[bytes] = field(init=False)
    started_at: float = field(init=False)
    failures: int = 0
    # a start (in a thread: the demo worker's asks this process's API first) and the final stop never overlap,
    # so that no child is started after it was stopped and left running
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _stopped: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self._start()

    def _start(self) -> None:
        with self._lock:
            if not self._stopped:
                self.process = self.start()
                self.started_at = time.monotonic()

    async def keep_running(self, stopping: Callable[[], bool], poll_seconds: float = 0.5) -> None:
        """Until cancelled or ``stopping()``: each time the process has exited, start it again after
        ``restart_delay``. (Ctrl-C in a terminal signals the children too: once the API is stopping, an
        exit is expected.)

        The stream processors end their process when an agent fails (``streams.app``), so that a restart
        reads again what that agent had not finished; this is the restart."""
        while not stopping():
            await asyncio.sleep(poll_seconds)
            code = self.process.poll()
            if code is None or stopping():
                continue
            ran = time.monotonic() - self.started_at
            self.failures = 1 if ran >= STABLE_AFTER_SECONDS else self.failures + 1
            delay = restart_delay(self.failures)
            log.warning("%s (pid %s) exited with code %s after %.0f s; starting it again in %.0f s",
                        self.name, self.process.pid, code, ran, delay)
            await asyncio.sleep(delay)
            if stopping():
                return
            try:
                await asyncio.to_thread(self._start)
            except (OSError, httpx.HTTPError) as exc:  # the old process stays the exited one: tried again
                log.error("%s could not be started again: %s", self.name, exc)
                self.started_at = time.monotonic()
                continue
            log.warning("%s started again (pid %s)", self.name, self.process.pid)

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            log.info("stopping %s (pid %s)", self.name, self.process.pid)
            stop_child(self.process, self.pid_file)


def start_demo_worker(settings: Settings, key: str, log_level: str) -> subprocess.Popen[bytes]:
    """The demo worker (``taskforge_sdk.demo``), once its queue exists."""
    base = f"http://{settings.api_host}:{settings.api_port}"
    response = httpx.post(f"{base}/api/v1/queues", json={"name": "demo", "description": "taskforge dev's demo queue"},
                          headers={"Authorization": f"Bearer {key}"}, timeout=10)
    if response.status_code not in (201, 409):
        log.warning("could not create the demo queue: %s", response.text)
    env = {**_child_env(settings), "TASKFORGE_URL": base, "TASKFORGE_API_KEY": key}
    log_file = open(settings.run_dir / "demo-worker.log", "ab")  # noqa: SIM115 - the child owns it
    child = subprocess.Popen([sys.executable, "-m", "taskforge.cli", "--log-level", log_level, "worker",
                              "taskforge_sdk.demo:worker"], env=env, stdout=log_file, stderr=subprocess.STDOUT)
    (settings.run_dir / "demo-worker.pid").write_text(str(child.pid))
    return child


def run_dev(settings: Settings, log_level: str = "info") -> int:
    settings, key, key_source = with_dev_secrets(settings)
    broker = LocalBroker(settings)
    started = time.monotonic()
    status = broker.start()
    we_started_kafka = status.detail == "started"
    log.info("kafka %s (pid %s) in %.1fs", status.detail, status.pid, time.monotonic() - started)
    asyncio.run(ensure_topics(settings, Topics.from_settings(settings)))
    children = [Child("the stream processors", settings.run_dir / "streams.pid",
                      lambda: start_streams(settings, log_level))]

    app = create_app(settings)
    server = uvicorn.Server(uvicorn.Config(app, host=settings.api_host, port=settings.api_port,
                                           log_level=log_level, access_log=False))

    async def serve() -> None:
        def stopping() -> bool:
            return bool(server.should_exit)

        watchdogs = [asyncio.create_task(children[0].keep_running(stopping))]

        async def announce() -> None:
            while not server.started:
                await asyncio.sleep(0.1)
            await app.state.context.bootstrapped.wait()  # the key is a real API key once the owner recorded it
            demo = await asyncio.to_thread(Child, "the demo worker", settings.run_dir / "demo-worker.pid",
                                           lambda: start_demo_worker(settings, key, log_level))
            children.append(demo)
            watchdogs.append(asyncio.create_task(demo.keep_running(stopping)))
            print(_banner(settings, key, key_source), flush=True)

        announcer = asyncio.create_task(announce())
        try:
            await server.serve()
        finally:
            announcer.cancel()
            for watchdog in watchdogs:
                watchdog.cancel()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:  # uvicorn re-raises the Ctrl-C it handled; for us it is the normal way to stop
        log.info("interrupted; the API has shut down")
    finally:
        for child in reversed(children):  # the demo worker first, then the stream processors
            child.stop()
        if we_started_kafka:
            log.info("stopping kafka (pid %s)", status.pid)
            broker.stop()
    return 0
