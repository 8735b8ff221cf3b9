"""Workers register, lease, complete and fail, against real owners and a real dispatcher."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
import pytest

from tests.support import AUTH, eventually

pytestmark = pytest.mark.integration


async def queue(api: httpx.AsyncClient, **settings: Any) -> dict[str, Any]:
    response = await api.post("/api/v1/queues", json={"name": f"q-{uuid.uuid4().hex[:8]}", "settings": settings},
                              headers=AUTH)
    assert response.status_code == 201, response.text
    return response.json()["data"]


async def worker(api: httpx.AsyncClient, queues: list[str], **extra: Any) -> dict[str, Any]:
    response = await api.post("/api/v1/workers", json={"name": f"w-{uuid.uuid4().hex[:6]}", "queues": queues, **extra},
                              headers=AUTH)
    assert response.status_code == 201, response.text
    return response.json()["data"]


async def submit(api: httpx.AsyncClient, queue_name: str, **extra: Any) -> dict[str, Any]:
    response = await api.post("/api/v1/jobs", json={"queue_name": queue_name, "job_type": "t", **extra}, headers=AUTH)
    assert response.status_code == 201, response.text
    return response.json()["data"]


async def lease(api: httpx.AsyncClient, worker_id: str, **body: Any) -> list[dict[str, Any]]:
    response = await api.post(f"/api/v1/workers/{worker_id}/lease", json=body, headers=AUTH)
    assert response.status_code == 200, response.text
    return response.json()["data"]["jobs"]


async def lease_until(api: httpx.AsyncClient, worker_id: str, count: int, **body: Any) -> list[dict[str, Any]]:
    """Jobs become leasable once their owner's notice reached the dispatcher; keep asking, briefly."""
    got: list[dict[str, Any]] = []

    async def enough() -> bool:
        got.extend(await lease(api, worker_id, max_jobs=count - len(got), **body))
        return len(got) >= count

    await eventually(enough, timeout=10, interval=0.05)
    return got


async def test_register_heartbeat_and_read_a_worker(api: httpx.AsyncClient) -> None:
    q = await queue(api)
    w = await worker(api, [q["name"]], worker_type="email", max_concurrent_jobs=4, heartbeat_interval_seconds=10,
                     metadata={"host": "h1"})
    assert w["status"] == "online" and w["queues"] == [{"id": q["id"], "name": q["name"]}]
    beat = await api.post(f"/api/v1/workers/{w['id']}/heartbeat", headers=AUTH)
    assert beat.status_code == 200 and beat.json()["data"]["next_expected_heartbeat"] > w["next_expected_heartbeat"]
    got = (await api.get(f"/api/v1/workers/{w['id']}", headers=AUTH)).json()["data"]
    assert got["metadata"] == {"host": "h1"} and got["max_concurrent_jobs"] == 4
    listed = (await api.get("/api/v1/workers", params={"worker_type": "email"}, headers=AUTH)).json()["data"]
    assert w["id"] in {x["id"] for x in listed["workers"]}
    assert (await api.get(f"/api/v1/workers/{uuid.uuid4()}", headers=AUTH)).status_code == 404
    bad = await api.post("/api/v1/workers", json={"name": "w", "queues": ["no-such-queue"]}, headers=AUTH)
    assert bad.status_code == 404


async def test_jobs_are_leased_by_priority_and_completed(api: httpx.AsyncClient) -> None:
    q = await queue(api)
    w = await worker(api, [q["name"]])
    low = await submit(api, q["name"], priority=1, payload={"n": "low"})
    high = await submit(api, q["name"], priority=9, payload={"n": "high"})
    jobs = await lease_until(api, w["id"], 2)
    assert [j["id"] for j in jobs] == [high["id"], low["id"]]
    first = jobs[0]
    assert first["attempt"] == 1 and first["payload"] == {"n": "high"} and first["queue_name"] == q["name"]
    done = await api.post(f"/api/v1/jobs/{first['id']}/complete", headers=AUTH,
                          json={"lease_id": first["lease_id"], "output": {"sent": True}, "duration_ms": 12})
    assert done.status_code == 200 and done.json()["data"]["status"] == "succeeded"
    again = await api.post(f"/api/v1/jobs/{first['id']}/complete", headers=AUTH, json={"lease_id": first["lease_id"]})
    assert again.status_code == 200, "a repeated report is accepted"

    async def projected() -> dict[str, Any] | None:
        data = (await api.get(f"/api/v1/jobs/{first['id']}", headers=AUTH)).json()["data"]
        return data if data["status"] == "succeeded" else None

    read = await eventually(projected, timeout=5)
    assert read["output"] == {"sent": True} and read["execution_stats"] == {"duration_ms": 12, "worker_id": w["id"]}
    assert read["attempt_count"] == 1 and read["completed_at"] is not None


async def test_a_stale_report_is_refused_and_a_retryable_failure_comes_back(api: httpx.AsyncClient) -> None:
    q = await queue(api, retry_delay_seconds=0, max_retry_delay_seconds=0)
    w = await worker(api, [q["name"]])
    job = await submit(api, q["name"], max_attempts=2)
    (leased,) = await lease_until(api, w["id"], 1)
    stale = await api.post(f"/api/v1/jobs/{job['id']}/complete", headers=AUTH, json={"lease_id": str(uuid.uuid4())})
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "RESOURCE_CONFLICT"
    failed = await api.post(f"/api/v1/jobs/{job['id']}/fail", headers=AUTH,
                            json={"lease_id": leased["lease_id"], "error_message": "smtp down", "error_type": "IOError"})
    assert failed.status_code == 200 and failed.json()["data"]["status"] == "scheduled"
    (second,) = await lease_until(api, w["id"], 1)
    assert second["id"] == job["id"] and second["attempt"] == 2 and second["lease_id"] != leased["lease_id"]
    final = await api.post(f"/api/v1/jobs/{job['id']}/fail", headers=AUTH,
                           json={"lease_id": second["lease_id"], "error_message": "still down"})
    assert final.json()["data"]["status"] == "failed", "two attempts of two"


async def test_a_long_poll_wakes_up_when_work_arrives(api: httpx.AsyncClient) -> None:
    q = await queue(api)
    w = await worker(api, [q["name"]])
    started = time.monotonic()
    poll = asyncio.create_task(lease(api, w["id"], max_jobs=1, wait_seconds=10))
    await asyncio.sleep(0.5)
    assert not poll.done(), "nothing to lease yet: the call waits"
    job = await submit(api, q["name"])
    (got,) = await asyncio.wait_for(poll, timeout=10)
    assert got["id"] == job["id"]
    assert time.monotonic() - started < 5, "woken by the job, not by the deadline"


async def test_an_empty_long_poll_ends_at_its_deadline(api: httpx.AsyncClient) -> None:
    q = await queue(api)
    w = await worker(api, [q["name"]])
    started = time.monotonic()
    assert await lease(api, w["id"], max_jobs=3, wait_seconds=1) == []
    # answered at its deadline by the dispatcher's alarm: the suite's dispatchers sweep only every 10 s, and an
    # API that heard nothing would answer empty only after its command timeout on top of the wait
    assert 0.9 <= time.monotonic() - started < 2.5


async def test_the_queue_concurrency_limit_holds(api: httpx.AsyncClient) -> None:
    q = await queue(api, max_concurrent_jobs=2)
    w1, w2 = await worker(api, [q["name"]]), await worker(api, [q["name"]])
    for _ in range(4):
        await submit(api, q["name"])
    got = await lease_until(api, w1["id"], 2)
    assert await lease(api, w2["id"], max_jobs=5) == [], "two running: the queue is full"
    done = await api.post(f"/api/v1/jobs/{got[0]['id']}/complete", headers=AUTH, json={"lease_id": got[0]["lease_id"]})
    assert done.status_code == 200
    (third,) = await lease_until(api, w2["id"], 1)
    assert third["id"] not in {g["id"] for g in got}


async def test_job_types_and_drain(api: httpx.AsyncClient) -> None:
    q = await queue(api)
    sms_worker = await worker(api, [q["name"]], job_types=["sms"])
    email = await submit(api, q["name"], job_type="email")
    sms = await submit(api, q["name"], job_type="sms")
    (got,) = await lease_until(api, sms_worker["id"], 1)
    assert got["id"] == sms["id"]
    assert await lease(api, sms_worker["id"], max_jobs=5) == [], "email is not its type"
    draining = await worker(api, [q["name"]])
    assert (await api.post(f"/api/v1/workers/{draining['id']}/drain", headers=AUTH)).json()["data"]["status"] == "draining"
    assert await lease(api, draining["id"], max_jobs=5) == [], "a draining worker gets no new work"
    assert (await api.delete(f"/api/v1/workers/{draining['id']}", headers=AUTH)).status_code == 200
    gone = await api.post(f"/api/v1/workers/{draining['id']}/lease", json={}, headers=AUTH)
    assert gone.status_code == 409
    taker = await worker(api, [q["name"]])
    (left,) = await lease_until(api, taker["id"], 1)
    assert left["id"] == email["id"]


async def test_a_cancelled_job_is_never_leased(api: httpx.AsyncClient) -> None:
    q = await queue(api)
    w = await worker(api, [q["name"]])
    job = await submit(api, q["name"])
    assert (await api.post(f"/api/v1/jobs/{job['id']}/cancel", headers=AUTH)).status_code == 200
    keep = await submit(api, q["name"])
    (got,) = await lease_until(api, w["id"], 1)
    assert got["id"] == keep["id"]
    assert await lease(api, w["id"], max_jobs=5) == []


async def test_reports_in_batches_are_answered_one_by_one(api: httpx.AsyncClient) -> None:
    q = await queue(api, retry_delay_seconds=0, max_retry_delay_seconds=0)
    w = await worker(api, [q["name"]])
    for _ in range(3):
        await submit(api, q["name"], max_attempts=1)
    a, b, c = await lease_until(api, w["id"], 3)
    done = await api.post("/api/v1/jobs/batch/complete", headers=AUTH, json={"reports": [
        {"job_id": a["id"], "lease_id": a["lease_id"], "output": 1},
        {"job_id": b["id"], "lease_id": str(uuid.uuid4())},
        {"job_id": str(uuid.uuid4()), "lease_id": str(uuid.uuid4())},
    ]})
    assert done.status_code == 200, done.text
    body = done.json()["data"]
    assert [r["status"] for r in body["results"]] == [200, 409, 404]
    assert (body["accepted"], body["refused"]) == (1, 2)
    assert body["results"][1]["error"]["code"] == "RESOURCE_CONFLICT"
    failed = await api.post("/api/v1/jobs/batch/fail", headers=AUTH, json={"reports": [
        {"job_id": b["id"], "lease_id": b["lease_id"], "error_message": "x", "retryable": False},
        {"job_id": c["id"], "lease_id": c["lease_id"], "error_message": "y"},
    ]})
    assert [r["status"] for r in failed.json()["data"]["results"]] == [200, 200]
    bad = await api.post("/api/v1/jobs/batch/fail", headers=AUTH, json={"reports": []})
    assert bad.status_code == 422


async def test_a_silent_workers_leases_go_back_at_once(api: httpx.AsyncClient) -> None:
    q = await queue(api, timeout_seconds=300, retry_delay_seconds=0, max_retry_delay_seconds=0)
    silent = await worker(api, [q["name"]], heartbeat_interval_seconds=1)
    job = await submit(api, q["name"], max_attempts=3)
    (leased,) = await lease_until(api, silent["id"], 1)
    started = time.monotonic()

    async def released() -> list[dict[str, Any]] | None:
        events = (await api.get(f"/api/v1/jobs/{job['id']}/events", headers=AUTH)).json()["data"]["events"]
        return events if any(e["event_type"] == "JobBecameReady" for e in events) else None

    events = await eventually(released, timeout=20, interval=0.2)
    assert time.monotonic() - started < 15, "long before the 300 s lease deadline"
    failed = [e for e in events if e["event_type"] == "JobAttemptFailed"]
    assert len(failed) == 1 and failed[0]["data"]["reason"] == "worker_lost"
    assert failed[0]["data"]["lease_id"] == leased["lease_id"]
    listed = (await api.get(f"/api/v1/workers/{silent['id']}", headers=AUTH)).json()["data"]
    assert listed["status"] == "offline"
    taker = await worker(api, [q["name"]])
    (again,) = await lease_until(api, taker["id"], 1)
    assert again["id"] == job["id"] and again["attempt"] == 2


async def test_a_worker_shows_the_jobs_it_holds(api: httpx.AsyncClient) -> None:
    q = await queue(api)
    w = await worker(api, [q["name"]])
    assert w["active_jobs"] == 0
    jobs = [await submit(api, q["name"]) for _ in range(2)]
    leased = await lease_until(api, w["id"], 2, queue=q["name"])
    assert {j["id"] for j in leased} == {j["id"] for j in jobs}

    async def holding(count: int) -> bool:
        got = (await api.get(f"/api/v1/workers/{w['id']}", headers=AUTH)).json()["data"]
        listed = (await api.get("/api/v1/workers", headers=AUTH)).json()["data"]["workers"]
        mine = next(v for v in listed if v["id"] == w["id"])
        return got["active_jobs"] == count and mine["active_jobs"] == count

    await eventually(lambda: holding(2), timeout=5)
    done = await api.post(f"/api/v1/jobs/{leased[0]['id']}/complete", headers=AUTH,
                          json={"lease_id": leased[0]["lease_id"], "output": {}})
    assert done.status_code == 200, done.text
    await eventually(lambda: holding(1), timeout=5)


async def test_workers_of_another_visible_project_are_listed_by_project_id(api: httpx.AsyncClient) -> None:
    account = (await api.post("/api/v1/auth/register", json={
        "email": f"{uuid.uuid4().hex[:10]}@example.com", "password": "correct-Horse-battery-9",
        "organization_name": "Workers Inc", "name": "Ada"})).json()["data"]
    admin = {"Authorization": f"Bearer {account['tokens']['access_token']}"}
    second = (await api.post("/api/v1/projects", headers=admin, json={"name": "batch"})).json()["data"]
    in_second = {**admin, "X-Project-Id": second["id"]}
    q_name = f"q-{uuid.uuid4().hex[:8]}"
    assert (await api.post("/api/v1/queues", headers=in_second, json={"name": q_name})).status_code == 201
    registered = await api.post("/api/v1/workers", headers=in_second, json={"name": "w2", "queues": [q_name]})
    assert registered.status_code == 201, registered.text

    default_list = (await api.get("/api/v1/workers", headers=admin)).json()["data"]
    assert default_list["workers"] == [], "the default project has no workers"
    by_id = (await api.get("/api/v1/workers", headers=admin, params={"project_id": second["id"]})).json()["data"]
    assert [w["id"] for w in by_id["workers"]] == [registered.json()["data"]["id"]] and by_id["total"] == 1

    bootstrap_project = (await api.get("/api/v1/auth/validate", headers=AUTH)).json()["data"]["project_id"]
    for hidden in (bootstrap_project, str(uuid.uuid4())):  # another organization's project, or none at all
        response = await api.get("/api/v1/workers", headers=admin, params={"project_id": hidden})
        assert response.status_code == 404 and response.json()["error"]["code"] == "RESOURCE_NOT_FOUND"
    narrow = await api.get("/api/v1/workers", headers=AUTH, params={"project_id": second["id"]})
    assert narrow.status_code == 404, "a key of another organization cannot name this project"
