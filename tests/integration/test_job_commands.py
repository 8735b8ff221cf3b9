"""Commands decided by the job's owner (a real faust worker): cancel, retry, idempotency, dead letters."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from schemas.commands import CommandEnvelope, CommandReply
from schemas.envelope import Tenant
from schemas.job import FailJob, JobCommand, LeaseJob
from taskforge.settings import Settings
from tests.support import AUTH, eventually, until_listed

pytestmark = pytest.mark.integration


async def queue(api: httpx.AsyncClient, **settings: Any) -> dict[str, Any]:
    response = await api.post("/api/v1/queues", json={"name": f"q-{uuid.uuid4().hex[:8]}", "settings": settings},
                              headers=AUTH)
    assert response.status_code == 201, response.text
    return response.json()["data"]


async def submit(api: httpx.AsyncClient, queue_name: str, **extra: Any) -> httpx.Response:
    return await api.post("/api/v1/jobs", json={"queue_name": queue_name, "job_type": "t", **extra}, headers=AUTH)


async def command(api: httpx.AsyncClient, settings: Settings, cmd: JobCommand) -> CommandReply:
    """Straight to the owner, as the dispatcher and the worker routes will: the owner is real, only the caller is the test."""
    tenant = Tenant(organization_id=settings.bootstrap_organization_id, project_id=settings.bootstrap_project_id)
    envelope = CommandEnvelope.of(cmd, tenant=tenant, issued_at=datetime.now(UTC))
    return await api.app.state.context.commands.send(envelope)  # type: ignore[attr-defined]


async def status_becomes(api: httpx.AsyncClient, job_id: str, status: str) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        data = (await api.get(f"/api/v1/jobs/{job_id}", headers=AUTH)).json()["data"]
        return data if data["status"] == status else None

    return await eventually(check, timeout=5)


async def history(api: httpx.AsyncClient, job_id: str) -> list[str]:
    response = await api.get(f"/api/v1/jobs/{job_id}/events", headers=AUTH)
    assert response.status_code == 200, response.text
    return [e["event_type"] for e in response.json()["data"]["events"]]


async def test_a_pending_job_is_cancelled_once(api: httpx.AsyncClient) -> None:
    q = await queue(api)
    job = (await submit(api, q["name"])).json()["data"]
    response = await api.post(f"/api/v1/jobs/{job['id']}/cancel", headers=AUTH)
    assert response.status_code == 200, response.text
    assert response.json()["message"] == "Job cancelled successfully"
    assert response.json()["data"]["status"] == "cancelled"
    assert (await api.post(f"/api/v1/jobs/{job['id']}/cancel", headers=AUTH)).status_code == 200, "idempotent"
    read = await status_becomes(api, job["id"], "cancelled")
    assert read["completed_at"] is not None
    assert await history(api, job["id"]) == ["JobSubmitted", "JobCancelled"]


async def test_a_scheduled_job_can_be_cancelled(api: httpx.AsyncClient) -> None:
    q = await queue(api)
    later = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    job = (await submit(api, q["name"], scheduled_for=later)).json()["data"]
    assert job["status"] == "scheduled"
    assert (await api.post(f"/api/v1/jobs/{job['id']}/cancel", headers=AUTH)).json()["data"]["status"] == "cancelled"


async def test_cancel_and_retry_of_unknown_jobs_are_404(api: httpx.AsyncClient) -> None:
    for action in ("cancel", "retry"):
        response = await api.post(f"/api/v1/jobs/{uuid.uuid4()}/{action}", headers=AUTH)
        assert response.status_code == 404 and response.json()["error"]["code"] == "RESOURCE_NOT_FOUND"


async def test_a_processing_job_cannot_be_cancelled_and_a_pending_one_cannot_be_retried(
    api: httpx.AsyncClient, settings: Settings
) -> None:
    q = await queue(api)
    job = (await submit(api, q["name"])).json()["data"]
    retry = await api.post(f"/api/v1/jobs/{job['id']}/retry", headers=AUTH)
    assert retry.status_code == 409 and retry.json()["error"]["code"] == "RESOURCE_CONFLICT"
    assert "pending" in retry.json()["error"]["message"]
    granted = await command(api, settings, LeaseJob(job_id=uuid.UUID(job["id"]), lease_id=uuid.uuid4(),
                                                    worker_id=uuid.uuid4()))
    assert granted.accepted and granted.job is not None and granted.job.status == "processing"
    cancel = await api.post(f"/api/v1/jobs/{job['id']}/cancel", headers=AUTH)
    assert cancel.status_code == 409 and "processing" in cancel.json()["error"]["message"]


async def test_a_failed_job_is_retried_into_a_new_round(api: httpx.AsyncClient, settings: Settings) -> None:
    q = await queue(api)
    job = (await submit(api, q["name"], max_attempts=1)).json()["data"]
    job_id, lease_id = uuid.UUID(job["id"]), uuid.uuid4()
    await command(api, settings, LeaseJob(job_id=job_id, lease_id=lease_id, worker_id=uuid.uuid4()))
    failed = await command(api, settings, FailJob(job_id=job_id, lease_id=lease_id, error_message="disk full"))
    assert failed.job is not None and failed.job.status == "failed"
    read = await status_becomes(api, job["id"], "failed")
    assert read["error_message"] == "disk full" and read["attempt_count"] == 1

    response = await api.post(f"/api/v1/jobs/{job['id']}/retry", headers=AUTH)
    assert response.status_code == 200 and response.json()["message"] == "Job retry scheduled successfully"
    assert response.json()["data"]["status"] == "pending" and response.json()["data"]["attempt_count"] == 0
    await status_becomes(api, job["id"], "pending")
    assert await history(api, job["id"]) == ["JobSubmitted", "JobLeased", "JobAttemptFailed", "JobFailed", "JobRetried"]


async def test_racing_submissions_with_one_idempotency_key_make_one_job(api: httpx.AsyncClient) -> None:
    q = await queue(api)
    key = f"order-{uuid.uuid4()}"
    responses = await asyncio.gather(*(submit(api, q["name"], idempotency_key=key, payload={"n": i}) for i in range(8)))
    assert sorted(r.status_code for r in responses) == [200] * 7 + [201]
    ids = {r.json()["data"]["id"] for r in responses}
    assert len(ids) == 1
    (job_id,) = ids
    payloads = {str(r.json()["data"]["payload"]) for r in responses}
    assert len(payloads) == 1, "every answer shows the original job"
    assert await history(api, job_id) == ["JobSubmitted"]
    listed = (await api.get("/api/v1/jobs", params={"queue_id": q["id"]}, headers=AUTH)).json()["data"]
    assert listed["pagination"]["total"] == 1


async def test_a_job_out_of_attempts_goes_to_the_dead_letter_queue(api: httpx.AsyncClient, settings: Settings) -> None:
    dlq = await queue(api)
    q = await queue(api, dead_letter_queue_id=dlq["id"])
    job = (await submit(api, q["name"], max_attempts=1, payload={"order": 42})).json()["data"]
    job_id, lease_id = uuid.UUID(job["id"]), uuid.uuid4()
    await command(api, settings, LeaseJob(job_id=job_id, lease_id=lease_id, worker_id=uuid.uuid4()))
    dead = await command(api, settings, FailJob(job_id=job_id, lease_id=lease_id, error_message="bad"))
    assert dead.job is not None and dead.job.status == "dead_lettered"
    await status_becomes(api, job["id"], "dead_lettered")

    async def copy_in_dlq() -> list[dict[str, Any]]:
        listed = (await api.get("/api/v1/jobs", params={"queue_id": dlq["id"]}, headers=AUTH)).json()["data"]
        return listed["jobs"]

    (copy,) = await eventually(copy_in_dlq, timeout=5)
    assert copy["status"] == "pending" and copy["id"] != job["id"] and copy["queue_name"] == dlq["name"]
    full = (await api.get(f"/api/v1/jobs/{copy['id']}", headers=AUTH)).json()["data"]
    assert full["payload"] == {"order": 42}
    events = (await api.get(f"/api/v1/jobs/{copy['id']}/events", headers=AUTH)).json()["data"]["events"]
    assert events[0]["data"]["dead_letter_of"] == job["id"]


async def test_a_scheduled_job_becomes_pending_on_time(api: httpx.AsyncClient) -> None:
    q = await queue(api)
    soon = datetime.now(UTC) + timedelta(seconds=1)
    job = (await submit(api, q["name"], scheduled_for=soon.isoformat())).json()["data"]
    assert job["status"] == "scheduled"

    async def pending() -> dict[str, Any] | None:
        data = (await api.get(f"/api/v1/jobs/{job['id']}", headers=AUTH)).json()["data"]
        return data if data["status"] == "pending" else None

    await eventually(pending, timeout=10)
    became_ready_at = datetime.now(UTC)
    assert became_ready_at >= soon, "not before its time"
    assert await history(api, job["id"]) == ["JobSubmitted", "JobBecameReady"]


async def test_an_expired_lease_is_a_failed_attempt_and_the_job_comes_back(
    api: httpx.AsyncClient, settings: Settings
) -> None:
    q = await queue(api, timeout_seconds=1, retry_delay_seconds=1, max_retry_delay_seconds=1)
    job = (await submit(api, q["name"], max_attempts=2)).json()["data"]
    lease = await command(api, settings, LeaseJob(job_id=uuid.UUID(job["id"]), lease_id=uuid.uuid4(),
                                                  worker_id=uuid.uuid4()))
    assert lease.accepted

    async def back_to_ready() -> list[dict[str, Any]] | None:
        events = (await api.get(f"/api/v1/jobs/{job['id']}/events", headers=AUTH)).json()["data"]["events"]
        return events if events[-1]["event_type"] == "JobBecameReady" else None

    events = await eventually(back_to_ready, timeout=10)
    assert [e["event_type"] for e in events] == [
        "JobSubmitted", "JobLeased", "JobAttemptFailed", "JobRetryScheduled", "JobBecameReady"]
    await status_becomes_within(api, job["id"], "pending", timeout=5)
    failed = events[2]
    assert failed["data"]["reason"] == "timeout" and failed["actor"] == "taskforge:timer"
    read = (await api.get(f"/api/v1/jobs/{job['id']}", headers=AUTH)).json()["data"]
    assert read["attempt_count"] == 1 and "expired" in read["error_message"]


async def status_becomes_within(api: httpx.AsyncClient, job_id: str, status: str, timeout: float) -> None:
    async def check() -> bool:
        return (await api.get(f"/api/v1/jobs/{job_id}", headers=AUTH)).json()["data"]["status"] == status

    await eventually(check, timeout=timeout)


async def test_a_batch_answers_each_job_on_its_own(api: httpx.AsyncClient) -> None:
    q = await queue(api)
    key = f"batch-{uuid.uuid4()}"
    items: list[dict[str, Any]] = [
        {"queue_name": q["name"], "job_type": "a"},
        {"queue_name": q["name"], "job_type": "b", "priority": 10},
        {"queue_name": "no-such-queue", "job_type": "c"},
        {"queue_name": q["name"], "job_type": "d", "payload": {"x": "y" * (256 * 1024)}},
        {"queue_name": q["name"], "job_type": "e", "idempotency_key": key},
        {"queue_name": q["name"], "job_type": "e", "idempotency_key": key},
        "not an object",
    ]
    response = await api.post("/api/v1/jobs/batch", json={"jobs": items}, headers=AUTH)
    assert response.status_code == 200, response.text
    body = response.json()["data"]
    assert [r["status"] for r in body["results"]] == [201, 422, 404, 413, 201, 200, 422]
    assert [r["index"] for r in body["results"]] == list(range(7))
    assert (body["submitted"], body["duplicates"], body["failed"]) == (2, 1, 4)
    assert body["results"][1]["error"]["code"] == "VALIDATION_001"
    assert "priority" in {e["field"] for e in body["results"][1]["error"]["details"]["errors"]}
    assert body["results"][2]["error"]["code"] == "RESOURCE_NOT_FOUND"
    assert body["results"][3]["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert body["results"][4]["job"]["id"] == body["results"][5]["job"]["id"]
    for result in (body["results"][0], body["results"][4]):
        assert (await api.get(f"/api/v1/jobs/{result['job']['id']}", headers=AUTH)).status_code == 200
    listed = (await api.get("/api/v1/jobs", params={"queue_id": q["id"]}, headers=AUTH)).json()["data"]
    assert listed["pagination"]["total"] == 2, "refused items recorded nothing"


async def test_a_batch_over_several_queues_puts_each_job_in_its_own(api: httpx.AsyncClient) -> None:
    """A batch looks each queue name up once: the answers must still follow each item's own name."""
    first, second = await queue(api), await queue(api)
    names = [first["name"], second["name"], "no-such-queue", second["name"], "no-such-queue", first["name"]]
    response = await api.post("/api/v1/jobs/batch", headers=AUTH,
                              json={"jobs": [{"queue_name": name, "job_type": "mixed"} for name in names]})
    assert response.status_code == 200, response.text
    results = response.json()["data"]["results"]
    assert [r["status"] for r in results] == [201, 201, 404, 201, 404, 201]
    assert [r["job"]["queue_id"] for r in results if r["status"] == 201] == [
        first["id"], second["id"], second["id"], first["id"]]


async def test_a_full_batch_of_a_thousand(api: httpx.AsyncClient) -> None:
    q = await queue(api)
    items = [{"queue_name": q["name"], "job_type": "bulk", "payload": {"i": i}} for i in range(1000)]
    response = await api.post("/api/v1/jobs/batch", json={"jobs": items}, headers=AUTH)
    assert response.status_code == 200, response.text
    body = response.json()["data"]
    assert body["submitted"] == 1000 and body["failed"] == 0
    assert len({r["job"]["id"] for r in body["results"]}) == 1000
    await until_listed(api, q["id"], 1000)
    listed = (await api.get("/api/v1/jobs", params={"queue_id": q["id"]}, headers=AUTH)).json()["data"]
    assert listed["pagination"]["total"] == 1000


@pytest.mark.parametrize("body", [{"jobs": []}, {"jobs": "x"}, {"jobs": [{}] * 1001}, {}, {"jobs": [], "more": 1}])
async def test_a_batch_of_the_wrong_shape_is_refused_whole(api: httpx.AsyncClient, body: dict[str, Any]) -> None:
    response = await api.post("/api/v1/jobs/batch", json=body, headers=AUTH)
    assert response.status_code == 422 and response.json()["error"]["code"] == "VALIDATION_001"
