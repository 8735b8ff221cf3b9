"""`taskforge kafka start|stop|status` against a real JVM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import free_port, scoped_settings, settings_env

pytestmark = pytest.mark.integration


def taskforge(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "taskforge.cli", *args], env=env, capture_output=True, text=True,
                          timeout=120)


def test_broker_lifecycle_start_twice_crash_restart_stop(tmp_path: Path) -> None:
    settings = scoped_settings(tmp_path, free_port(), free_port())
    env = settings_env(settings)
    pid_file = settings.kafka_dir / "kafka.pid"

    first = taskforge(env, "kafka", "start")
    assert first.returncode == 0, first.stderr
    assert "started" in first.stdout
    assert (settings.kafka_dir / "logs" / "meta.properties").exists(), "KRaft storage was formatted"
    pid = int(pid_file.read_text())
    try:
        second = taskforge(env, "kafka", "start")
        assert second.returncode == 0 and "already running" in second.stdout
        assert int(pid_file.read_text()) == pid, "starting twice did not start a second broker"
        status = taskforge(env, "kafka", "status")
        assert status.returncode == 0 and "answering" in status.stdout

        os.kill(pid, signal.SIGKILL)  # a crashed run leaves its PID file behind
        crashed = taskforge(env, "kafka", "status")
        assert crashed.returncode == 3 and "not running" in crashed.stdout
        restarted = taskforge(env, "kafka", "start")
        assert restarted.returncode == 0 and "started" in restarted.stdout
        pid = int(pid_file.read_text())
    finally:
        stopped = taskforge(env, "kafka", "stop")
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert not pid_file.exists()
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split(") ")[1][:1]
    assert taskforge(env, "kafka", "status").returncode == 3


def test_a_port_taken_by_someone_else_is_reported(tmp_path: Path) -> None:
    import socket

    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        settings = scoped_settings(tmp_path, port, free_port())
        result = taskforge(settings_env(settings), "kafka", "start")
    assert result.returncode == 1
    assert f"port {port} is taken" in result.stderr
