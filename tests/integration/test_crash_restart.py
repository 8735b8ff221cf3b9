"""Kill -9 the API (and its projector) and start it again: nothing acknowledged is lost, nothing doubles."""

from __future__ import annotations

import httpx
import pytest

from taskforge.settings import Settings
from tests.support import AUTH, ApiProcess, free_port, scoped_settings

pytestmark = pytest.mark.integration


def test_jobs_survive_an_api_crash(broker_settings: Settings, tmp_path) -> None:
    settings = scoped_settings(tmp_path, broker_settings.kafka_port, broker_settings.kafka_controller_port,
                               clickhouse_url=None, api_port=free_port())
    api = ApiProcess(settings, tmp_path / "api.log")
    api.start()
    try:
        with httpx.Client(base_url=api.base_url, headers=AUTH, timeout=10) as client:
            assert client.post("/api/v1/queues", json={"name": "durable"}).status_code == 201
            ids = []
            for i in range(3):
                response = client.post("/api/v1/jobs", json={"queue_name": "durable", "job_type": "t", "payload": {"i": i}})
                assert response.status_code == 201
                ids.append(response.json()["data"]["id"])

        api.kill()  # acknowledged, maybe not yet projected: the log has it either way
        api.start()

        with httpx.Client(base_url=api.base_url, headers=AUTH, timeout=10) as client:
            for i, job_id in enumerate(ids):
                got = client.get(f"/api/v1/jobs/{job_id}")
                assert got.status_code == 200, got.text
                assert got.json()["data"]["payload"] == {"i": i}
            listing = client.get("/api/v1/jobs", params={"limit": 100}).json()["data"]
            assert listing["pagination"]["total"] == 3
            assert sorted(j["id"] for j in listing["jobs"]) == sorted(ids)
            # the queue directory is rebuilt from the log too
            again = client.post("/api/v1/jobs", json={"queue_name": "durable", "job_type": "t"})
            assert again.status_code == 201
            assert client.post("/api/v1/queues", json={"name": "durable"}).status_code == 409
    finally:
        api.stop()
