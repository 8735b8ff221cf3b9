"""The Python worker SDK against a real API process, real job owners and a real dispatcher."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from taskforge.settings import Settings
from taskforge_sdk import NonRetryable, Retry, TaskForgeClient, Worker, current_job
from tests.support import (
    AUTH, TEST_API_KEY, ApiProcess, eventually, running_stack, settings_env, wait_sync,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack(broker_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiProcess]:
    with running_stack(broker_settings, tmp_path_factory.mktemp("sdk")) as (_settings, _streams, api):
        with httpx.Client(base_url=api.base_url, headers=AUTH, timeout=10) as client:
            wait_sync(lambda: client.post(f"/api/v1/jobs/{uuid.uuid4()}/cancel").status_code == 404, timeout=90,
                      interval=0.5)
        yield api


@pytest.fixture
async def client(stack: ApiProcess) -> AsyncIterator[TaskForgeClient]:
    async with TaskForgeClient(stack.base_url, TEST_API_KEY) as c:
        yield c


async def new_queue(client: TaskForgeClient, **settings: Any) -> str:
    name = f"sdk-{uuid.uuid4().hex[:8]}"
    await client.create_queue(name, settings=settings)
    return name


async def finished(client: TaskForgeClient, job_id: str, status: str, timeout: float = 20) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        job = await client.get_job(job_id)
        return job if job["status"] == status else None

    return await eventually(check, timeout=timeout, interval=0.1)


async def test_handlers_run_and_their_outcomes_are_recorded(stack: ApiProcess, client: TaskForgeClient) -> None:
    queue = await new_queue(client, retry_delay_seconds=0, max_retry_delay_seconds=1)
    worker = Worker(stack.base_url, TEST_API_KEY, queues=[queue], concurrency=4, lease_wait=1)
    seen_attempts: list[int] = []

    @worker.task("sync_echo")
    def sync_echo(payload: dict[str, Any]) -> dict[str, Any]:
        return {"echo": payload["x"], "job": current_job().job_type}

    @worker.task("async_double")
    async def async_double(payload: dict[str, Any]) -> int:
        await asyncio.sleep(0.01)
        return payload["n"] * 2

    @worker.task("bad_input")
    def bad_input(payload: dict[str, Any]) -> None:
        raise NonRetryable("the payload is missing 'to'")

    @worker.task("second_time_lucky")
    def second_time_lucky(payload: dict[str, Any]) -> str:
        seen_attempts.append(current_job().attempt)
        if current_job().attempt == 1:
            raise Retry("upstream busy", delay=0.2)
        return "ok"

    @worker.task("always_broken")
    def always_broken(payload: dict[str, Any]) -> None:
        raise ValueError("boom")

    running = asyncio.create_task(worker.run_async())
    try:
        echo = await client.submit(queue, "sync_echo", {"x": 7})
        double = await client.submit(queue, "async_double", {"n": 21})
        bad = await client.submit(queue, "bad_input", {})
        lucky = await client.submit(queue, "second_time_lucky", {})
        broken = await client.submit(queue, "always_broken", {}, max_attempts=2)

        assert (await finished(client, echo["id"], "succeeded"))["output"] == {"echo": 7, "job": "sync_echo"}
        done = await finished(client, double["id"], "succeeded")
        assert done["output"] == 42 and done["execution_stats"]["worker_id"] == worker.worker_id
        failed = await finished(client, bad["id"], "failed")
        assert failed["attempt_count"] == 1 and "missing 'to'" in failed["error_message"]
        assert (await finished(client, lucky["id"], "succeeded"))["attempt_count"] == 2
        assert seen_attempts == [1, 2]
        gave_up = await finished(client, broken["id"], "failed")
        assert gave_up["attempt_count"] == 2
        assert "ValueError: boom" in gave_up["error_message"] and "Traceback" in gave_up["error_message"]
    finally:
        worker.stop()
        await asyncio.wait_for(running, timeout=30)
    view = (await client.request("GET", f"/workers/{worker.worker_id}"))
    assert view["status"] == "deregistered", "a stopped worker deregisters"


async def test_a_long_handler_keeps_its_lease(stack: ApiProcess, client: TaskForgeClient) -> None:
    queue = await new_queue(client, timeout_seconds=1)
    worker = Worker(stack.base_url, TEST_API_KEY, queues=[queue], concurrency=1, lease_wait=1)

    @worker.task("long")
    async def long(payload: dict[str, Any]) -> str:
        await asyncio.sleep(3.5)  # three and a half lease lengths
        return "done"

    running = asyncio.create_task(worker.run_async())
    try:
        job = await client.submit(queue, "long", {}, max_attempts=1)
        finished_job = await finished(client, job["id"], "succeeded", timeout=20)
        assert finished_job["attempt_count"] == 1, "extended, never expired"
        events = [e["event_type"] for e in (await client.request("GET", f"/jobs/{job['id']}/events"))["events"]]
        assert "JobLeaseExtended" in events and "JobAttemptFailed" not in events
    finally:
        worker.stop()
        await asyncio.wait_for(running, timeout=30)


async def test_stopping_lets_running_jobs_finish(stack: ApiProcess, client: TaskForgeClient) -> None:
    queue = await new_queue(client)
    worker = Worker(stack.base_url, TEST_API_KEY, queues=[queue], concurrency=2, lease_wait=1, grace_period=10)
    started = asyncio.Event()

    @worker.task("finish_me")
    async def finish_me(payload: dict[str, Any]) -> str:
        started.set()
        await asyncio.sleep(1)
        return "finished"

    running = asyncio.create_task(worker.run_async())
    job = await client.submit(queue, "finish_me", {})
    await asyncio.wait_for(started.wait(), timeout=20)
    worker.stop()
    await asyncio.wait_for(running, timeout=30)
    assert (await client.get_job(job["id"]))["status"] in ("processing", "succeeded")
    assert (await finished(client, job["id"], "succeeded", timeout=5))["output"] == "finished"


def start_worker_process(stack: ApiProcess, queue: str, name: str, log: Path) -> subprocess.Popen[bytes]:
    env = {**settings_env(stack.settings), "TASKFORGE_URL": stack.base_url, "TASKFORGE_API_KEY": TEST_API_KEY,
           "TEST_QUEUE": queue, "TEST_WORKER_NAME": name}
    return subprocess.Popen([sys.executable, "-m", "taskforge.cli", "--log-level", "warning", "worker",
                             "tests.sdk_handlers:worker"], env=env, stdout=open(log, "wb"),  # noqa: SIM115
                            stderr=subprocess.STDOUT, cwd=Path(__file__).resolve().parents[2])


async def test_a_job_outlives_a_worker_killed_mid_job(stack: ApiProcess, client: TaskForgeClient, tmp_path: Path) -> None:
    queue = await new_queue(client, timeout_seconds=2, retry_delay_seconds=0, max_retry_delay_seconds=0)
    first = start_worker_process(stack, queue, "first", tmp_path / "first.log")
    try:
        job = await client.submit(queue, "slow_first_time", {}, max_attempts=3)
        await finished(client, job["id"], "processing", timeout=30)
        os.kill(first.pid, signal.SIGKILL)  # mid-job, no goodbye
        first.wait()
        second = start_worker_process(stack, queue, "second", tmp_path / "second.log")
        try:
            done = await finished(client, job["id"], "succeeded", timeout=60)
            assert done["output"] == {"attempt": 2, "worker": "second"}
            events = (await client.request("GET", f"/jobs/{job['id']}/events"))["events"]
            failed = [e for e in events if e["event_type"] == "JobAttemptFailed"]
            assert len(failed) == 1 and failed[0]["data"]["reason"] == "timeout"
            leases = [e for e in events if e["event_type"] == "JobLeased"]
            assert len(leases) == 2 and leases[0]["data"]["worker_id"] != leases[1]["data"]["worker_id"]
        finally:
            second.terminate()
            second.wait(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
