"""The job owner keeps every job it decided in its changelog-backed table."""

from __future__ import annotations

import httpx
import pytest

from streams.job_holding import OwnedJob, holding_of
from taskforge.settings import Settings
from tests.support import AUTH, StreamsProcess, changelog_entries, eventually

pytestmark = pytest.mark.integration


async def changelog_states(settings: Settings) -> dict[str, OwnedJob]:
    return {key: holding_of(value) for key, value in (await changelog_entries(settings)).items() if value is not None}


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
