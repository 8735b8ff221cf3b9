"""Priorities and per-queue concurrency hold under load: several workers, many concurrent polls.

Checked from the owners' own record (the job events), not from what the workers saw.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import datetime
from typing import Any

import httpx
import pytest

from schemas.dispatch import LiveJobsQuery
from tests.integration.test_worker_protocol import queue, worker
from tests.support import AUTH, eventually

pytestmark = pytest.mark.integration


async def submit_many(api: httpx.AsyncClient, queue_name: str, priorities: list[int]) -> list[str]:
    body = {"jobs": [{"queue_name": queue_name, "job_type": "t", "priority": p} for p in priorities]}
    response = await api.post("/api/v1/jobs/batch", json=body, headers=AUTH)
    assert response.status_code == 200 and response.json()["data"]["submitted"] == len(priorities), response.text
    return [r["job"]["id"] for r in response.json()["data"]["results"]]


async def ready_in_dispatcher(api: httpx.AsyncClient, queue_id: str, count: int) -> None:
    """Wait until the queue's dispatcher has heard of every job (its live count, asked the way DELETE asks)."""
    bus = api.app.state.context.commands  # type: ignore[attr-defined]

    async def heard() -> bool:
        live = await bus.count_live_jobs(LiveJobsQuery(queue_id=uuid.UUID(queue_id), request_id=uuid.uuid4()))
        return live.pending == count

    await eventually(heard, timeout=20, interval=0.2)


async def history(api: httpx.AsyncClient, job_id: str) -> list[dict[str, Any]]:
    response = await api.get(f"/api/v1/jobs/{job_id}/events", headers=AUTH)
    assert response.status_code == 200
    return response.json()["data"]["events"]


async def run_workers(api: httpx.AsyncClient, worker_ids: list[str], total: int, batch: int, hold: float) -> None:
    """Each worker runs two polls that lease ``batch`` jobs, hold them a moment, and complete them."""
    done = 0

    async def poll(worker_id: str) -> None:
        nonlocal done
        while done < total:
            response = await api.post(f"/api/v1/workers/{worker_id}/lease", json={"max_jobs": batch, "wait_seconds": 1},
                                      headers=AUTH)
            jobs = response.json()["data"]["jobs"]
            if not jobs:
                continue
            await asyncio.sleep(hold)
            reports = [{"job_id": j["id"], "lease_id": j["lease_id"]} for j in jobs]
            result = await api.post("/api/v1/jobs/batch/complete", json={"reports": reports}, headers=AUTH)
            assert result.status_code == 200 and result.json()["data"]["accepted"] == len(jobs)
            done += len(jobs)

    await asyncio.wait_for(asyncio.gather(*(poll(w) for w in worker_ids for _ in range(2))), timeout=120)


async def test_the_queue_limit_holds_with_many_workers_polling(api: httpx.AsyncClient) -> None:
    limit, total = 5, 120
    q = await queue(api, max_concurrent_jobs=limit)
    workers = [(await worker(api, [q["name"]], max_concurrent_jobs=50))["id"] for _ in range(3)]
    job_ids = await submit_many(api, q["name"], [0] * total)
    await run_workers(api, workers, total, batch=10, hold=0.02)

    spans = []
    for job_id in job_ids:
        events = await history(api, job_id)
        leased = datetime.fromisoformat(next(e["occurred_at"] for e in events if e["event_type"] == "JobLeased"))
        ended = datetime.fromisoformat(next(e["occurred_at"] for e in events if e["event_type"] == "JobSucceeded"))
        spans.append((leased, ended))
    moments = sorted([(t, 1) for t, _ in spans] + [(t, -1) for _, t in spans], key=lambda m: (m[0], m[1]))
    running = peak = 0
    for _, step in moments:
        running += step
        peak = max(peak, running)
    assert peak <= limit, f"{peak} jobs of the queue held leases at once; the limit is {limit}"
    assert peak == limit, "with this much work waiting the queue runs at its limit"


async def test_higher_priorities_are_leased_first_with_many_workers_polling(api: httpx.AsyncClient) -> None:
    total = 200
    q = await queue(api, max_concurrent_jobs=1_000)
    workers = [(await worker(api, [q["name"]], max_concurrent_jobs=50))["id"] for _ in range(3)]
    rng = random.Random(7)
    priorities = [rng.randint(0, 9) for _ in range(total)]
    job_ids = await submit_many(api, q["name"], priorities)
    await ready_in_dispatcher(api, q["id"], total)
    await run_workers(api, workers, total, batch=7, hold=0.0)

    leased_at = {}
    for job_id in job_ids:
        events = await history(api, job_id)
        leased_at[job_id] = datetime.fromisoformat(next(e["occurred_at"] for e in events if e["event_type"] == "JobLeased"))
    ticks: dict[datetime, list[int]] = {}  # offers made in one dispatch tick share a time
    for job_id, priority in zip(job_ids, priorities, strict=True):
        ticks.setdefault(leased_at[job_id], []).append(priority)
    ordered = [ticks[t] for t in sorted(ticks)]
    for index, tick in enumerate(ordered[:-1]):
        later = max(p for group in ordered[index + 1:] for p in group)
        assert min(tick) >= later, "a lower priority was leased while a higher one was ready"
    assert len(ordered) > 3, "the jobs went out over many ticks, so the order was tested"
