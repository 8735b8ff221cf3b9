"""Queue and system metrics from the read models, through the real app."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.integration.test_worker_protocol import lease_until, queue, submit, worker
from tests.support import AUTH, assert_error, eventually

pytestmark = pytest.mark.integration


async def test_queue_metrics_count_finish_and_time_jobs_in_the_period(api: httpx.AsyncClient) -> None:
    q = await queue(api, max_retries=0)
    w = await worker(api, [q["name"]])
    for _ in range(4):
        await submit(api, q["name"])
    jobs = await lease_until(api, w["id"], 4)
    durations = [100, 200, 300]
    for job, duration in zip(jobs[:3], durations, strict=True):
        done = await api.post(f"/api/v1/jobs/{job['id']}/complete", headers=AUTH,
                              json={"lease_id": job["lease_id"], "duration_ms": duration})
        assert done.status_code == 200
    failed = await api.post(f"/api/v1/jobs/{jobs[3]['id']}/fail", headers=AUTH,
                            json={"lease_id": jobs[3]["lease_id"], "error_message": "boom", "retryable": False})
    assert failed.status_code == 200
    await submit(api, q["name"])  # one waiting

    async def settled() -> dict[str, Any] | None:
        body = (await api.get(f"/api/v1/metrics/queues/{q['id']}", headers=AUTH)).json()["data"]
        s = body["stats"]
        return body if (s["succeeded_jobs"], s["failed_jobs"], s["pending_jobs"]) == (3, 1, 1) else None

    body = await eventually(settled, timeout=10, interval=0.1)
    stats = body["stats"]
    assert body["name"] == q["name"] and stats["pending_jobs"] == 1 and stats["processing_jobs"] == 0
    assert stats["avg_processing_time_ms"] == 200.0 and stats["p99_processing_time_ms"] == 300.0
    assert stats["error_rate_percent"] == 25.0 and stats["throughput_per_minute"] == round(4 / 60, 2)

    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    empty = (await api.get(f"/api/v1/metrics/queues/{q['id']}", headers=AUTH,
                           params={"start": later, "end": (datetime.now(UTC) + timedelta(hours=2)).isoformat()})).json()
    assert empty["data"]["stats"]["succeeded_jobs"] == 0 and empty["data"]["stats"]["avg_processing_time_ms"] is None
    assert empty["data"]["stats"]["pending_jobs"] == 1, "depth is now, whatever the period"


@pytest.mark.parametrize("params", [
    {"start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"},
    {"start": "2025-01-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"},
    {"start": "2026-01-01T00:00:00"},
    {"start": "yesterday"},
])
async def test_bad_periods_get_422(api: httpx.AsyncClient, params: dict[str, str]) -> None:
    q = await queue(api)
    assert_error(await api.get(f"/api/v1/metrics/queues/{q['id']}", params=params, headers=AUTH), 422, "VALIDATION_001")


async def test_unknown_queue_metrics_are_not_found(api: httpx.AsyncClient) -> None:
    assert_error(await api.get(f"/api/v1/metrics/queues/{uuid.uuid4()}", headers=AUTH), 404, "RESOURCE_NOT_FOUND")
    assert_error(await api.get("/api/v1/metrics/system"), 401, "AUTH_001")


async def test_system_metrics_add_up_the_tenants_queues_and_workers(api: httpx.AsyncClient) -> None:
    q = await queue(api)
    await worker(api, [q["name"]])
    assert (await api.post(f"/api/v1/queues/{q['id']}/pause", headers=AUTH)).status_code == 200
    await submit(api, q["name"])

    async def counted() -> dict[str, Any] | None:
        body = (await api.get("/api/v1/metrics/system", headers=AUTH)).json()["data"]
        return body if body["queues"]["total_pending_jobs"] >= 1 else None

    body = await eventually(counted, timeout=10, interval=0.1)
    assert body["queues"]["paused"] >= 1 and body["queues"]["total"] == body["queues"]["active"] + body["queues"]["paused"]
    assert body["workers"]["online"] >= 1
    system = body["system"]
    assert 0 <= system["cpu_usage_percent"] <= 100 and 0 < system["memory_usage_percent"] < 100
    assert system["process_memory_bytes"] > 10_000_000 and system["uptime_seconds"] > 0
    assert body["pipeline"]["clickhouse_backend"] == "chdb" and body["pipeline"]["projector_lag_events"] is not None
    parts = body["pipeline"]["clickhouse_active_parts"]
    assert parts["jobs"] >= 1 and parts["jobs_by_time"] >= 1 and parts["job_events"] >= 1, parts


async def test_prometheus_exposition_holds_traffic_depth_and_histograms(api: httpx.AsyncClient) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    q = await queue(api)
    w = await worker(api, [q["name"]])
    for _ in range(2):
        await submit(api, q["name"])
    jobs = await lease_until(api, w["id"], 2)
    for job in jobs:
        assert (await api.post(f"/api/v1/jobs/{job['id']}/complete", headers=AUTH,
                               json={"lease_id": job["lease_id"], "duration_ms": 40})).status_code == 200
    await submit(api, q["name"])
    assert_error(await api.get("/api/v1/metrics"), 401, "AUTH_001")

    def samples(text: str) -> dict[str, list[Any]]:
        found: dict[str, list[Any]] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                found.setdefault(sample.name, []).append(sample)
        return found

    async def scraped() -> dict[str, list[Any]] | None:
        response = await api.get("/api/v1/metrics", headers=AUTH)
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
        found = samples(response.text)
        depth = {s.labels["status"]: s.value for s in found.get("taskforge_queue_jobs", []) if s.labels["queue"] == q["name"]}
        # depth and histograms read different tables, written by one batch's concurrent inserts
        timed = [s.value for s in found.get("taskforge_job_processing_seconds_count", []) if s.labels["queue"] == q["name"]]
        return found if depth.get("succeeded") == 2 and depth.get("pending") == 1 and timed == [2] else None

    found = await eventually(scraped, timeout=10, interval=0.2)
    took = {s.labels["le"]: s.value for s in found["taskforge_job_processing_seconds_bucket"] if s.labels["queue"] == q["name"]}
    assert took["0.01"] == 0 and took["0.05"] == 2 and took["+Inf"] == 2, "two jobs of 40 ms"
    waited = [s for s in found["taskforge_job_submit_to_start_seconds_count"] if s.labels["queue"] == q["name"]]
    assert waited and waited[0].value == 2
    routes = {(s.labels["route"], s.labels["status"]) for s in found["taskforge_api_requests_total"]}
    assert ("/api/v1/jobs/{job_id}/complete", "200") in routes and ("/api/v1/metrics", "401") in routes, "route templates, not paths"
    assert found["taskforge_projector_lag_events"][0].value >= 0


async def test_job_stats_show_attempts_and_timings(api: httpx.AsyncClient) -> None:
    q = await queue(api, retry_delay_seconds=0, max_retry_delay_seconds=0)
    w = await worker(api, [q["name"]])
    job = await submit(api, q["name"])
    (first,) = await lease_until(api, w["id"], 1)
    assert (await api.post(f"/api/v1/jobs/{job['id']}/fail", headers=AUTH,
                           json={"lease_id": first["lease_id"], "error_message": "flaky"})).status_code == 200
    (second,) = await lease_until(api, w["id"], 1)
    assert (await api.post(f"/api/v1/jobs/{job['id']}/complete", headers=AUTH,
                           json={"lease_id": second["lease_id"], "duration_ms": 12})).status_code == 200
    stats = (await api.get(f"/api/v1/jobs/{job['id']}/stats", headers=AUTH)).json()["data"]
    assert [(a["attempt"], a["outcome"], a["reason"]) for a in stats["attempts"]] == [
        (1, "failed", "error"), (2, "succeeded", None)]
    assert stats["attempts"][0]["error_message"] == "flaky" and stats["attempts"][1]["duration_ms"] == 12
    assert stats["failed_attempts"] == 1 and stats["total_ms"] is not None and stats["rounds"] == 1
    assert all(a["worker_id"] == w["id"] for a in stats["attempts"])
    assert_error(await api.get(f"/api/v1/jobs/{uuid.uuid4()}/stats", headers=AUTH), 404, "RESOURCE_NOT_FOUND")
