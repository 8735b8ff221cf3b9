"""README command 1 in miniature: `taskforge dev` starts everything, prints the key, and Ctrl-C stops it all."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support import free_port, scoped_settings, settings_env, wait_sync

pytestmark = pytest.mark.integration


def start_dev(env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    handle = open(log, "wb")  # noqa: SIM115 - the child owns it
    process = subprocess.Popen([sys.executable, "-m", "taskforge.cli", "--log-level", "warning", "dev"], env=env,
                               stdout=handle, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        found = re.search(r"bootstrap key\s+(tf_[A-Za-z0-9_-]+)", text)
        if found:
            return process, found.group(1)
        if process.poll() is not None:
            raise AssertionError(f"taskforge dev exited early:\n{text[-3000:]}")
        time.sleep(0.1)
    process.kill()
    raise AssertionError(f"no banner within 90s:\n{log.read_text()[-3000:]}")


def interrupt(process: subprocess.Popen[bytes]) -> int:
    process.send_signal(signal.SIGINT)  # what Ctrl-C sends
    return process.wait(timeout=60)


def pid_alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][:1] != "Z"
    except FileNotFoundError:
        return False


def restarted_pid(pid_file: Path, old: int) -> int | None:
    """The new PID in the file once a live process other than ``old`` is there."""
    pid = int(pid_file.read_text()) if pid_file.exists() else old
    return pid if pid != old and pid_alive(pid) else None


def test_dev_starts_everything_restarts_a_crashed_child_and_ctrl_c_stops_it(tmp_path: Path) -> None:
    settings = scoped_settings(tmp_path, free_port(), free_port(), api_port=free_port(), clickhouse_url=None,
                               bootstrap_api_key=None)
    env = settings_env(settings)
    base = f"http://127.0.0.1:{settings.api_port}"

    process, key = start_dev(env, tmp_path / "dev1.log")
    kafka_pid = int((settings.kafka_dir / "kafka.pid").read_text())
    streams_pid = int((settings.run_dir / "streams.pid").read_text())
    demo_pid = int((settings.run_dir / "demo-worker.pid").read_text())
    try:
        assert (tmp_path / "bootstrap-api-key").stat().st_mode & 0o777 == 0o600
        output = (tmp_path / "dev1.log").read_text()
        assert f"{base}/api/v1" in output and f"{base}/docs" in output
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=10) as client:
            assert client.get("/ready").status_code == 200
            assert pid_alive(streams_pid), "the stream processors run"
            assert client.post("/api/v1/queues", json={"name": "dev"}).status_code == 201
            job = client.post("/api/v1/jobs", json={"queue_name": "dev", "job_type": "t"}).json()["data"]
            email = client.post("/api/v1/jobs", json={"queue_name": "demo", "job_type": "send_email",
                                                      "payload": {"to": "a@example.com"}}).json()["data"]

            def ran() -> dict | None:
                data = client.get(f"/api/v1/jobs/{email['id']}").json()["data"]
                return data if data["status"] == "succeeded" else None

            done = wait_sync(ran, timeout=60, interval=0.2)
            assert done["output"] == {"sent_to": "a@example.com", "attempt": 1}, "the demo worker ran it"

            # a crash of the stream processors: dev starts them again, and jobs run again
            os.kill(streams_pid, signal.SIGKILL)
            restarted = wait_sync(lambda: restarted_pid(settings.run_dir / "streams.pid", streams_pid), timeout=30,
                                  interval=0.2)

            def submitted() -> dict | None:  # 503 while the restarted owners are still starting
                response = client.post("/api/v1/jobs", json={"queue_name": "demo", "job_type": "send_email",
                                                             "payload": {"to": "b@example.com"},
                                                             "idempotency_key": "after-the-restart"})
                return response.json()["data"] if response.status_code in (200, 201) else None

            email = wait_sync(submitted, timeout=90, interval=0.5)
            done = wait_sync(ran, timeout=90, interval=0.2)
            assert done["output"] == {"sent_to": "b@example.com", "attempt": 1}, "ran after the restart"
    finally:
        code = interrupt(process)
    log_text = (tmp_path / "dev1.log").read_text()
    assert code == 0, log_text[-3000:]
    assert "the stream processors (pid %d) exited with code -9" % streams_pid in log_text
    assert not pid_alive(kafka_pid), "Ctrl-C stopped the Kafka it started"
    assert not pid_alive(restarted), "Ctrl-C stopped the restarted stream processors"
    assert not pid_alive(demo_pid), "Ctrl-C stopped the demo worker"
    assert not (settings.kafka_dir / "kafka.pid").exists()

    process, key_again = start_dev(env, tmp_path / "dev2.log")
    try:
        assert key_again == key, "the data directory keeps its bootstrap key"
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=10) as client:
            assert client.get(f"/api/v1/jobs/{job['id']}").status_code == 200, "running again keeps the data"
    finally:
        assert interrupt(process) == 0
    assert os.path.exists(settings.kafka_dir / "logs" / "meta.properties")
