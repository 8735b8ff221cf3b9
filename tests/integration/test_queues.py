"""Queue management against the real catalogue owner and dispatcher: update, pause, resume, delete, unique names."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from schemas.commands import CommandEnvelope
from schemas.envelope import Tenant
from schemas.job import JobPolicy, SubmitJob
from schemas.queue import QueueSettings
from taskforge.settings import Settings
from tests.integration.test_worker_protocol import lease, lease_until, queue, submit, worker
from tests.support import AUTH, assert_error, eventually

pytestmark = pytest.mark.integration


def tomorrow() -> str:
    return (datetime.now(UTC) + timedelta(days=1)).isoformat()


async def get_queue(api: httpx.AsyncClient, queue_id: str) -> httpx.Response:
    return await api.get(f"/api/v1/queues/{queue_id}", headers=AUTH)


async def test_put_merges_settings_and_keeps_what_it_does_not_name(api: httpx.AsyncClient) -> None:
    q = await queue(api, max_concurrent_jobs=7, retry_delay_seconds=10)
    response = await api.put(f"/api/v1/queues/{q['id']}", headers=AUTH, json={
        "description": "mail", "priority": 4, "settings": {"max_retries": 5}})
    assert response.status_code == 200, response.text
    updated = response.json()["data"]
    assert updated["settings"]["max_retries"] == 5 and updated["settings"]["max_concurrent_jobs"] == 7
    assert updated["settings"]["retry_delay_seconds"] == 10 and updated["priority"] == 4
    assert updated["created_at"] == q["created_at"] and updated["updated_at"] > q["updated_at"]
    got = (await get_queue(api, q["id"])).json()["data"]
    assert got["description"] == "mail" and got["settings"]["max_retries"] == 5, "a read after the PUT shows it"


async def test_put_refuses_bad_settings_and_changes_nothing(api: httpx.AsyncClient) -> None:
    q = await queue(api)
    for body, status in [({"settings": {"max_concurrent_jobs": 0}}, 422), ({"settings": {"nope": 1}}, 422),
                         ({"settings": {"retry_delay_seconds": 3600}}, 422),  # beyond max_retry_delay_seconds
                         ({"settings": {"dead_letter_queue_id": q["id"]}}, 422), ({"name": "bad name!"}, 422),
                         ({"colour": "red"}, 422)]:
        assert_error(await api.put(f"/api/v1/queues/{q['id']}", json=body, headers=AUTH), status, "VALIDATION_001")
    assert (await get_queue(api, q["id"])).json()["data"]["settings"] == q["settings"]
    assert_error(await api.put(f"/api/v1/queues/{uuid.uuid4()}", json={"priority": 1}, headers=AUTH), 404,
                 "RESOURCE_NOT_FOUND")


async def test_a_rename_to_a_taken_name_is_a_conflict_and_frees_the_old_name(api: httpx.AsyncClient) -> None:
    a, b = await queue(api), await queue(api)
    assert_error(await api.put(f"/api/v1/queues/{a['id']}", json={"name": b["name"]}, headers=AUTH), 409,
                 "RESOURCE_CONFLICT")
    new_name = f"renamed-{uuid.uuid4().hex[:6]}"
    renamed = await api.put(f"/api/v1/queues/{a['id']}", json={"name": new_name}, headers=AUTH)
    assert renamed.status_code == 200 and renamed.json()["data"]["name"] == new_name
    job = await submit(api, new_name)
    assert job["queue_id"] == a["id"], "jobs reach the queue by its new name"
    again = await api.post("/api/v1/queues", json={"name": a["name"]}, headers=AUTH)
    assert again.status_code == 201, "the old name is free"


async def test_racing_creates_of_one_name_give_one_queue(api: httpx.AsyncClient) -> None:
    name = f"race-{uuid.uuid4().hex[:8]}"
    responses = await asyncio.gather(*(api.post("/api/v1/queues", json={"name": name}, headers=AUTH) for _ in range(8)))
    assert sorted(r.status_code for r in responses) == [201] + [409] * 7
    listed = (await api.get("/api/v1/queues", params={"limit": 100}, headers=AUTH)).json()["data"]["queues"]
    assert [q["name"] for q in listed].count(name) == 1


async def test_a_paused_queue_leases_nothing_until_resumed(api: httpx.AsyncClient) -> None:
    q = await queue(api)
    w = await worker(api, [q["name"]])
    paused = await api.post(f"/api/v1/queues/{q['id']}/pause", headers=AUTH)
    assert paused.status_code == 200 and paused.json()["data"]["is_active"] is False
    job = await submit(api, q["name"])
    assert await lease(api, w["id"], max_jobs=1, wait_seconds=1) == [], "a paused queue offers nothing"
    assert (await get_queue(api, q["id"])).json()["data"]["is_active"] is False
    resumed = await api.post(f"/api/v1/queues/{q['id']}/resume", headers=AUTH)
    assert resumed.status_code == 200 and resumed.json()["data"]["is_active"] is True
    (leased,) = await lease_until(api, w["id"], 1)
    assert leased["id"] == job["id"]
    assert (await api.post(f"/api/v1/queues/{uuid.uuid4()}/pause", headers=AUTH)).status_code == 404


async def test_a_lower_concurrency_limit_applies_to_the_next_lease(api: httpx.AsyncClient) -> None:
    q = await queue(api, max_concurrent_jobs=10)
    w = await worker(api, [q["name"]])
    for _ in range(4):
        await submit(api, q["name"])
    assert (await api.put(f"/api/v1/queues/{q['id']}", json={"settings": {"max_concurrent_jobs": 2}},
                          headers=AUTH)).status_code == 200
    got = await lease_until(api, w["id"], 2, wait_seconds=1)
    assert len(got) == 2
    assert await lease(api, w["id"], max_jobs=4, wait_seconds=1) == [], "two running is the new limit"


async def test_a_queue_with_live_jobs_is_not_deleted(api: httpx.AsyncClient) -> None:
    q = await queue(api)
    job = await submit(api, q["name"])
    later = await submit(api, q["name"], scheduled_for=tomorrow())
    refused = await api.delete(f"/api/v1/queues/{q['id']}", headers=AUTH)
    assert_error(refused, 409, "RESOURCE_CONFLICT")
    details = refused.json()["error"]["details"]
    assert details["live_jobs"] == 2 and details["pending"] == 1 and details["scheduled"] == 1
    for j in (job, later):
        assert (await api.post(f"/api/v1/jobs/{j['id']}/cancel", headers=AUTH)).status_code == 200

    async def deleted() -> bool:
        return (await api.delete(f"/api/v1/queues/{q['id']}", headers=AUTH)).status_code == 200

    await eventually(deleted, timeout=10, interval=0.1)  # the cancellations reach the dispatcher
    assert_error(await get_queue(api, q["id"]), 404, "RESOURCE_NOT_FOUND")
    assert_error(await api.post("/api/v1/jobs", json={"queue_name": q["name"], "job_type": "t"}, headers=AUTH), 404,
                 "RESOURCE_NOT_FOUND")
    assert_error(await api.delete(f"/api/v1/queues/{q['id']}", headers=AUTH), 404, "RESOURCE_NOT_FOUND")

    async def cancelled() -> bool:  # a status change is visible once projected (a read by id that hits does not wait)
        response = await api.get(f"/api/v1/jobs/{job['id']}", headers=AUTH)
        return response.status_code == 200 and response.json()["data"]["status"] == "cancelled"

    assert await eventually(cancelled, timeout=10, interval=0.1), "the jobs' history outlives their queue"
    recreated = await api.post("/api/v1/queues", json={"name": q["name"]}, headers=AUTH)
    assert recreated.status_code == 201 and recreated.json()["data"]["id"] != q["id"]


async def test_a_dead_letter_queue_in_use_is_not_deleted(api: httpx.AsyncClient) -> None:
    dlq = await queue(api)
    await queue(api, dead_letter_queue_id=dlq["id"])
    refused = await api.delete(f"/api/v1/queues/{dlq['id']}", headers=AUTH)
    assert_error(refused, 409, "RESOURCE_CONFLICT")
    assert "dead_letter_queue_of" in refused.json()["error"]["details"]


async def test_a_submission_that_races_a_delete_ends_cancelled(api: httpx.AsyncClient, settings: Settings) -> None:
    """An API replica whose directory has not yet heard of the delete may still submit: that job is cancelled."""
    q = await queue(api)
    assert (await api.delete(f"/api/v1/queues/{q['id']}", headers=AUTH)).status_code == 200
    tenant = Tenant(organization_id=settings.bootstrap_organization_id, project_id=settings.bootstrap_project_id)
    job_id = uuid.uuid4()
    command = SubmitJob(job_id=job_id, queue_id=uuid.UUID(q["id"]), queue_name=q["name"], job_type="t", payload={},
                        priority=0, queue_max_retries=3, policy=JobPolicy.from_queue(QueueSettings(), None))
    reply = await api.app.state.context.commands.send(  # type: ignore[attr-defined]
        CommandEnvelope.of(command, tenant=tenant, issued_at=datetime.now(UTC)))
    assert reply.accepted and reply.created

    async def cancelled() -> bool:
        response = await api.get(f"/api/v1/jobs/{job_id}", headers=AUTH)
        return response.status_code == 200 and response.json()["data"]["status"] == "cancelled"

    await eventually(cancelled, timeout=10, interval=0.1)
    events = (await api.get(f"/api/v1/jobs/{job_id}/events", headers=AUTH)).json()["data"]["events"]
    assert events[-1]["event_type"] == "JobCancelled" and events[-1]["actor"] == "taskforge:queue-deleted"


async def test_queue_stats_count_jobs_by_status(api: httpx.AsyncClient) -> None:
    q = await queue(api)
    await submit(api, q["name"])
    await submit(api, q["name"], scheduled_for=tomorrow())

    async def counted() -> dict[str, Any] | None:
        stats = (await api.get(f"/api/v1/queues/{q['id']}/stats", headers=AUTH)).json()["data"]
        return stats if stats["pending_jobs"] == 1 and stats["scheduled_jobs"] == 1 else None

    assert await eventually(counted, timeout=10, interval=0.1)
    assert_error(await api.get(f"/api/v1/queues/{uuid.uuid4()}/stats", headers=AUTH), 404, "RESOURCE_NOT_FOUND")
