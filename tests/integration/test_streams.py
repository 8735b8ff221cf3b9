"""The faust worker owns job state: submitted jobs appear in its changelog-backed table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from streams.app import changelog_topic
from streams.job_owner import OwnedJob
from taskforge.settings import Settings
from tests.support import AUTH, eventually, settings_env

pytestmark = pytest.mark.integration


async def changelog_states(settings: Settings) -> dict[str, OwnedJob]:
    consumer = AIOKafkaConsumer(changelog_topic(settings, "job-state"), bootstrap_servers=settings.bootstrap_servers,
                                group_id=None, auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    try:
        states = {}
        while batch := await consumer.getmany(timeout_ms=500):
            for messages in batch.values():
                for m in messages:
                    states[m.key.decode()] = OwnedJob.model_validate_json(m.value)
        return states
    except Exception:  # the changelog topic appears only once the worker has joined
        return {}
    finally:
        await consumer.stop()


async def test_the_stream_processor_owns_submitted_jobs(api: httpx.AsyncClient, settings: Settings, tmp_path: Path) -> None:
    log = open(tmp_path / "streams.log", "wb")  # noqa: SIM115 - the child owns it
    worker = subprocess.Popen([sys.executable, "-m", "taskforge.cli", "--log-level", "warning", "streams"],
                              env=settings_env(settings), stdout=log, stderr=subprocess.STDOUT)
    try:
        assert (await api.post("/api/v1/queues", json={"name": "owned"}, headers=AUTH)).status_code == 201
        ids = []
        for priority in (1, 5, 9):
            response = await api.post("/api/v1/jobs", headers=AUTH,
                                      json={"queue_name": "owned", "job_type": "t", "priority": priority})
            ids.append(response.json()["data"]["id"])

        async def all_owned() -> dict[str, OwnedJob] | None:
            assert worker.poll() is None, (tmp_path / "streams.log").read_text()[-3000:]
            states = await changelog_states(settings)
            return states if all(i in states for i in ids) else None

        states = await eventually(all_owned, timeout=60, interval=0.5)
        assert [states[i].state.priority for i in ids] == [1, 5, 9]
        assert all(states[i].state.status == "pending" for i in ids)
    finally:
        worker.terminate()
        assert worker.wait(timeout=60) is not None
