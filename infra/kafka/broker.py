"""Start, stop and inspect the local single-node Kafka (broker and KRaft controller in one JVM).

Everything the broker writes (its log segments, its PID file, its output) lives under
``<data dir>/kafka``, so stopping and starting again keeps the data, and a test suite can
run its own throwaway broker beside a developer's.
"""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from aiokafka import AIOKafkaClient
from aiokafka.errors import KafkaError

from infra.kafka.jars import LOG4J_CONFIG, ensure_jars
from taskforge.settings import Settings


class BrokerError(RuntimeError):
    """The broker could not be started or stopped as asked."""


@dataclass(frozen=True)
class BrokerStatus:
    running: bool
    pid: int | None
    bootstrap_servers: str
    detail: str


def _kafka_cluster_id() -> str:
    """A cluster id in Kafka's own format (base64url of 16 random bytes, no padding)."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not text.startswith("-"):
            return text


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie left by a parent that has not reaped it yet is not alive
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][:1] != "Z"
    except (FileNotFoundError, IndexError):
        return True


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


async def _answers_metadata(bootstrap: str) -> bool:
    if not _port_open(int(bootstrap.rsplit(":", 1)[1])):  # spare aiokafka's connection-error logging
        return False
    client = AIOKafkaClient(bootstrap_servers=bootstrap, request_timeout_ms=2000)
    try:
        await client.bootstrap()
        return True
    except KafkaError:
        return False
    finally:
        await client.close()


class LocalBroker:
    """One local broker, identified by its data directory."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.dir = settings.kafka_dir
        self.log_dirs = self.dir / "logs"
        self.config_file = self.dir / "server.properties"
        self.pid_file = self.dir / "kafka.pid"
        self.output_file = self.dir / "kafka.log"
        self.bootstrap = f"127.0.0.1:{settings.kafka_port}"

    # -- inspection -------------------------------------------------------------------
    def _recorded_pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def _owned_pid(self) -> int | None:
        """The PID of a live broker started on this data directory, if any.

        A PID file whose process died (a crashed run) or was reused by another program
        is stale, and is removed.
        """
        pid = self._recorded_pid()
        if pid is None:
            return None
        if _pid_alive(pid) and "kafka.Kafka" in _cmdline(pid) and str(self.config_file) in _cmdline(pid):
            return pid
        self.pid_file.unlink(missing_ok=True)
        return None

    def status(self) -> BrokerStatus:
        pid = self._owned_pid()
        if pid is None:
            return BrokerStatus(False, None, self.bootstrap, "not running")
        healthy = asyncio.run(_answers_metadata(self.bootstrap))
        return BrokerStatus(True, pid, self.bootstrap, "answering" if healthy else "process alive, not answering yet")

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.output_file.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    # -- start ------------------------------------------------------------------------
    def _write_config(self) -> None:
        s = self.settings
        properties = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{s.kafka_controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{s.kafka_port},CONTROLLER://127.0.0.1:{s.kafka_controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{s.kafka_port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self.log_dirs),
            # Topics are created by the application with their own settings; a typo must fail, not create.
            "auto.create.topics.enable": "false",
            "num.partitions": str(s.topic_partitions),
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "10",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "group.initial.rebalance.delay.ms": "0",
        }
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text("".join(f"{k}={v}\n" for k, v in properties.items()))

    def _java(self) -> str:
        java_home = os.environ.get("JAVA_HOME")  # the JVM's own convention, not a TaskForge setting
        candidate = Path(java_home, "bin", "java") if java_home else None
        java = str(candidate) if candidate and candidate.exists() else shutil.which("java")
        if java is None:
            raise BrokerError("java is not on PATH; Kafka needs Java 17+")
        return java

    def _classpath(self) -> str:
        return str(ensure_jars() / "*")

    def _format_storage(self) -> None:
        if (self.log_dirs / "meta.properties").exists():
            return
        done = subprocess.run(
            [
                self._java(), "-Xmx256m", f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
                "-cp", self._classpath(), "kafka.tools.StorageTool",
                "format", "--ignore-formatted", "-t", _kafka_cluster_id(), "-c", str(self.config_file),
            ],
            capture_output=True, text=True,
        )
        if done.returncode != 0:
            raise BrokerError(f"formatting KRaft storage failed: {done.stdout[-1500:]}{done.stderr[-1500:]}")

    def start(self) -> BrokerStatus:
        """Start the broker unless it already runs; wait until it answers a metadata request."""
        pid = self._owned_pid()
        if pid is not None:
            self._wait_until_answering(pid)
            return BrokerStatus(True, pid, self.bootstrap, "already running")
        for port in (self.settings.kafka_port, self.settings.kafka_controller_port):
            if _port_open(port):
                raise BrokerError(f"port {port} is taken by another process; set TASKFORGE_KAFKA_PORT / _CONTROLLER_PORT")
        self._write_config()
        self._format_storage()
        heap = self.settings.kafka_heap
        with open(self.output_file, "ab") as output:
            process = subprocess.Popen(
                [
                    self._java(), f"-Xmx{heap}", f"-Xms{heap}", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
                    *self.settings.kafka_jvm_options.split(),
                    "-Djava.awt.headless=true", f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
                    "-cp", self._classpath(), "kafka.Kafka", str(self.config_file),
                ],
                stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C in a terminal reaches our supervisor, which stops Kafka in order
            )
        self.pid_file.write_text(str(process.pid))
        self._wait_until_answering(process.pid)
        return BrokerStatus(True, process.pid, self.bootstrap, "started")

    def _wait_until_answering(self, pid: int) -> None:
        deadline = time.monotonic() + self.settings.kafka_start_timeout_seconds
        while time.monotonic() < deadline:
            if not _pid_alive(pid):
                self.pid_file.unlink(missing_ok=True)
                raise BrokerError(f"Kafka exited during start; its output ends with:\n{self.tail()}")
            if asyncio.run(_answers_metadata(self.bootstrap)):
                return
            time.sleep(0.2)
        raise BrokerError(f"Kafka did not answer within {self.settings.kafka_start_timeout_seconds}s:\n{self.tail()}")

    # -- stop -------------------------------------------------------------------------
    def stop(self, timeout: float = 30.0) -> BrokerStatus:
        """Stop the broker by its PID: SIGTERM for a clean shutdown, SIGKILL if it hangs."""
        pid = self._owned_pid()
        if pid is None:
            return BrokerStatus(False, None, self.bootstrap, "was not running")
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        detail = "stopped"
        if _pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
            detail = "killed after it ignored SIGTERM"
            while _pid_alive(pid):
                time.sleep(0.05)
        self.pid_file.unlink(missing_ok=True)
        return BrokerStatus(False, None, self.bootstrap, detail)

    def kill(self) -> None:
        """SIGKILL, as a crash would: for tests of what survives one."""
        pid = self._owned_pid()
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            while _pid_alive(pid):
                time.sleep(0.05)
