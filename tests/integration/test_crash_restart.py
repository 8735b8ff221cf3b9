"""Kill -9 the API (and its projector) and the stream processors, start them again:
nothing acknowledged is lost, nothing doubles, and the owners remember every job."""

from __future__ import annotations

import uuid

import httpx
import pytest

from taskforge.settings import Settings
from tests.support import AUTH, ApiProcess, StreamsProcess, free_port, scoped_settings, wait_sync

pytestmark = pytest.mark.integration


def owner_answers(client: httpx.Client) -> bool:
    """The job owner is up when a cancel for an unknown job comes back 404 (not 503)."""
    return client.post(f"/api/v1/jobs/{uuid.uuid4()}/cancel").status_code == 404


def test_jobs_survive_a_crash_of_the_api_and_the_stream_processors(broker_settings: Settings, tmp_path) -> None:
    settings = scoped_settings(tmp_path, broker_settings.kafka_port, broker_settings.kafka_controller_port,
                               clickhouse_url=None, api_port=free_port())
    streams = StreamsProcess(settings, tmp_path / "streams.log")
    api = ApiProcess(settings, tmp_path / "api.log")
    streams.start()
    api.start()
    try:
        with httpx.Client(base_url=api.base_url, headers=AUTH, timeout=10) as client:
            wait_sync(lambda: owner_answers(client), timeout=90, interval=0.5)
            assert client.post("/api/v1/queues", json={"name": "durable"}).status_code == 201
            ids = []
            for i in range(3):
                response = client.post("/api/v1/jobs", json={"queue_name": "durable", "job_type": "t", "payload": {"i": i},
                                                             "idempotency_key": f"key-{i}"})
                assert response.status_code == 201, response.text
                ids.append(response.json()["data"]["id"])

        api.kill()  # acknowledged, maybe not yet projected: the log has it either way
        streams.kill()  # the owners' tables must come back from their changelog
        streams.start()
        api.start()

        with httpx.Client(base_url=api.base_url, headers=AUTH, timeout=10) as client:
            wait_sync(lambda: owner_answers(client), timeout=90, interval=0.5)
            for i, job_id in enumerate(ids):
                got = client.get(f"/api/v1/jobs/{job_id}")
                assert got.status_code == 200, got.text
                assert got.json()["data"]["payload"] == {"i": i}
            listing = client.get("/api/v1/jobs", params={"limit": 100}).json()["data"]
            assert listing["pagination"]["total"] == 3
            assert sorted(j["id"] for j in listing["jobs"]) == sorted(ids)
            # the owners recovered their state: a keyed repeat finds the original, a cancel finds the job
            repeat = client.post("/api/v1/jobs", json={"queue_name": "durable", "job_type": "t", "idempotency_key": "key-0"})
            assert repeat.status_code == 200 and repeat.json()["data"]["id"] == ids[0]
            cancelled = client.post(f"/api/v1/jobs/{ids[1]}/cancel")
            assert cancelled.status_code == 200 and cancelled.json()["data"]["status"] == "cancelled"
            # the queue directory is rebuilt from the log too
            assert client.post("/api/v1/jobs", json={"queue_name": "durable", "job_type": "t"}).status_code == 201
            assert client.post("/api/v1/queues", json={"name": "durable"}).status_code == 409
    finally:
        api.stop()
        streams.stop()
