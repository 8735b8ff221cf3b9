"""The largest payload and output the settings allow go through a job's whole life, and the owners go on."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest

from taskforge.settings import Settings
from tests.support import AUTH, running_stack, wait_sync

pytestmark = pytest.mark.integration

LARGEST_PAYLOAD: int = next(m.le for m in Settings.model_fields["max_payload_bytes"].metadata if hasattr(m, "le"))
"""The settings' upper bound for ``max_payload_bytes``, which is also the output's limit."""


def test_a_job_with_the_largest_payload_and_output_completes(broker_settings: Settings, tmp_path: Path) -> None:
    with running_stack(broker_settings, tmp_path, max_payload_bytes=LARGEST_PAYLOAD,
                       max_request_bytes=LARGEST_PAYLOAD + 64 * 1024) as (_settings, streams, api):
        with httpx.Client(base_url=api.base_url, headers=AUTH, timeout=30) as client:
            wait_sync(lambda: client.post("/api/v1/queues", json={"name": "big"}).status_code in (201, 409),
                      timeout=90, interval=0.5)
            blob = "x" * (LARGEST_PAYLOAD - len('{"b":""}'))  # exactly the limit, as the API measures it
            submitted = client.post("/api/v1/jobs", json={"queue_name": "big", "job_type": "t", "payload": {"b": blob}})
            assert submitted.status_code == 201, submitted.text[:500]
            job = submitted.json()["data"]
            worker = client.post("/api/v1/workers", json={"name": "w", "queues": ["big"]}).json()["data"]

            def leased() -> list | None:
                got = client.post(f"/api/v1/workers/{worker['id']}/lease", json={"max_jobs": 1, "wait_seconds": 1})
                assert got.status_code == 200, got.text[:500]
                return got.json()["data"]["jobs"] or None

            (lease,) = wait_sync(leased, timeout=30, interval=0.2)
            assert lease["id"] == job["id"] and lease["payload"] == {"b": blob}
            done = client.post(f"/api/v1/jobs/{job['id']}/complete",
                               json={"lease_id": lease["lease_id"], "output": {"b": blob}, "duration_ms": 5})
            assert done.status_code == 200, done.text[:500]
            assert done.json()["data"]["status"] == "succeeded"

            # the owners still decide: a small job after it, start to end
            small = client.post("/api/v1/jobs", json={"queue_name": "big", "job_type": "t"}).json()["data"]
            (next_lease,) = wait_sync(leased, timeout=30, interval=0.2)
            assert next_lease["id"] == small["id"]
            finished = client.post(f"/api/v1/jobs/{small['id']}/complete", json={"lease_id": next_lease["lease_id"]})
            assert finished.status_code == 200, finished.text[:500]
            streams.assert_alive()
            got = wait_sync(lambda: (r := client.get(f"/api/v1/jobs/{job['id']}")).status_code == 200
                            and r.json()["data"]["status"] == "succeeded" and r.json()["data"], timeout=30)
            assert got["output"] == {"b": blob}
            assert client.get(f"/api/v1/jobs/{uuid.uuid4()}").status_code == 404
