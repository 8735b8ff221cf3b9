"""The job owner keeps every job it decided in its changelog-backed table."""

from __future__ import annotations

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from streams.app import changelog_topic
from streams.job_holding import OwnedJob, holding_of
from taskforge.settings import Settings
from tests.support import AUTH, StreamsProcess, eventually

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
                    states[m.key.decode()] = holding_of(m.value)
        return states
    finally:
        await consumer.stop()


async def test_the_owner_table_holds_each_job_as_decided(api: httpx.AsyncClient, settings: Settings,
                                                       streams: StreamsProcess) -> None:
    assert (await api.post("/api/v1/queues", json={"name": "owned"}, headers=AUTH)).status_code == 201
    ids = []
    for priority in (1, 5, 9):
        response = await api.post("/api/v1/jobs", headers=AUTH,
                                  json={"queue_name": "owned", "job_type": "t", "priority": priority})
        ids.append(response.json()["data"]["id"])
    assert (await api.post(f"/api/v1/jobs/{ids[0]}/cancel", headers=AUTH)).status_code == 200

    async def all_owned() -> dict[str, OwnedJob] | None:
        streams.assert_alive()
        states = await changelog_states(settings)
        return states if all(i in states for i in ids) and states[ids[0]].version == 2 else None

    states = await eventually(all_owned, timeout=30, interval=0.5)
    assert [states[i].state.priority for i in ids] == [1, 5, 9]
    assert [states[i].state.status for i in ids] == ["cancelled", "pending", "pending"]
    assert all(states[i].tenant.project_id == settings.bootstrap_project_id for i in ids)
