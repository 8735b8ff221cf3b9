"""Job owners let go of ended jobs once their retention has passed (streams/retention.py), against the real broker
and stream processors: the owner's table entry becomes a tombstone, the read model keeps the job, later commands
for it are answered 409 as archived, keyed jobs are kept, and a crash neither loses nor repeats an archive."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from schemas.job import FailJob, LeaseJob
from taskforge.settings import Settings
from tests.integration.test_identity import bearer, register
from tests.integration.test_job_commands import command, history, queue, submit
from tests.support import AUTH, StreamsProcess, changelog_entries, eventually, scoped_settings, wait_for_owner

pytestmark = pytest.mark.integration

RETENTION_SECONDS = 2
FAILED_RETENTION_SECONDS = 3


@pytest.fixture(scope="module")
def settings(broker_settings: Settings) -> Settings:
    return scoped_settings(broker_settings.data_dir, broker_settings.kafka_port, broker_settings.kafka_controller_port,
                           job_retention_seconds=RETENTION_SECONDS,
                           failed_job_retention_seconds=FAILED_RETENTION_SECONDS)


async def archived(api: httpx.AsyncClient, job_id: str, timeout: float = 30) -> list[str]:
    """The job's history once it ends with the archive."""

    async def check() -> list[str] | None:
        events = await history(api, job_id)
        return events if events[-1] == "JobArchived" else None

    return await eventually(check, timeout=timeout, interval=0.25)


async def leased(api: httpx.AsyncClient, settings: Settings, queue_name: str, **extra: Any) -> tuple[str, uuid.UUID]:
    job = (await submit(api, queue_name, **extra)).json()["data"]
    lease_id = uuid.uuid4()
    granted = await command(api, settings, LeaseJob(job_id=uuid.UUID(job["id"]), lease_id=lease_id,
                                                    worker_id=uuid.uuid4()))
    assert granted.accepted, granted
    return job["id"], lease_id


def assert_archived_conflict(response: httpx.Response, status: str) -> None:
    assert response.status_code == 409, response.text
    error = response.json()["error"]
    assert error["code"] == "RESOURCE_CONFLICT" and "archived" in error["message"]
    assert error["details"] == {"status": status, "archived": True}


async def test_an_ended_job_is_archived_after_its_retention_and_stays_in_the_read_model(
    api: httpx.AsyncClient, settings: Settings
) -> None:
    q = await queue(api)
    job_id, lease_id = await leased(api, settings, q["name"])
    done = await api.post(f"/api/v1/jobs/{job_id}/complete", headers=AUTH,
                          json={"lease_id": str(lease_id), "output": {"sent": 3}})
    assert done.status_code == 200, done.text

    assert await archived(api, job_id) == ["JobSubmitted", "JobLeased", "JobSucceeded", "JobArchived"]
    entries = await changelog_entries(settings)
    assert job_id in entries and entries[job_id] is None, "the owner's entry is a tombstone"

    read = (await api.get(f"/api/v1/jobs/{job_id}", headers=AUTH)).json()["data"]
    assert read["status"] == "succeeded" and read["output"] == {"sent": 3}
    late = await api.post(f"/api/v1/jobs/{job_id}/complete", headers=AUTH, json={"lease_id": str(lease_id)})
    assert_archived_conflict(late, "succeeded")
    assert_archived_conflict(await api.post(f"/api/v1/jobs/{job_id}/retry", headers=AUTH), "succeeded")
    never = str(uuid.uuid4())
    batch = await api.post("/api/v1/jobs/batch/complete", headers=AUTH,
                           json={"reports": [{"job_id": job_id, "lease_id": str(lease_id)},
                                             {"job_id": never, "lease_id": str(lease_id)}]})
    assert batch.status_code == 200, batch.text
    archived_result, never_result = batch.json()["data"]["results"]
    assert archived_result["status"] == 409 and archived_result["error"]["details"] == {
        "status": "succeeded", "archived": True}
    assert never_result["status"] == 404 and never_result["error"]["code"] == "RESOURCE_NOT_FOUND"
    # another tenant learns nothing of an archived job: 404, not the 409 that would tell how it ended
    intruder = bearer((await register(api, org="Archive intruder"))["tokens"]["access_token"])
    theirs = await api.post("/api/v1/jobs/batch/complete", headers=intruder,
                            json={"reports": [{"job_id": job_id, "lease_id": str(lease_id)}]})
    assert theirs.status_code == 200, theirs.text
    (their_result,) = theirs.json()["data"]["results"]
    assert their_result["status"] == 404, their_result
    assert their_result["error"]["code"] == "RESOURCE_NOT_FOUND" and not their_result["error"].get("details"), \
        their_result
    single = await api.post(f"/api/v1/jobs/{job_id}/retry", headers=intruder)
    assert single.status_code == 404 and single.json()["error"]["code"] == "RESOURCE_NOT_FOUND", single.text
    # a job that never was is still 404
    missing = await api.post(f"/api/v1/jobs/{uuid.uuid4()}/retry", headers=AUTH)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "RESOURCE_NOT_FOUND"
    assert (await history(api, job_id))[-1] == "JobArchived", "the refused commands recorded nothing"


async def test_a_job_with_an_idempotency_key_is_kept_and_its_key_finds_it(
    api: httpx.AsyncClient, settings: Settings
) -> None:
    q = await queue(api)
    keyed = (await submit(api, q["name"], idempotency_key=f"order-{uuid.uuid4()}")).json()["data"]
    plain = (await submit(api, q["name"])).json()["data"]
    for job in (keyed, plain):
        assert (await api.post(f"/api/v1/jobs/{job['id']}/cancel", headers=AUTH)).status_code == 200
    await archived(api, plain["id"])  # the keyed job ended at the same time: its retention has passed too

    assert await history(api, keyed["id"]) == ["JobSubmitted", "JobCancelled"]
    again = await submit(api, q["name"], idempotency_key=keyed["idempotency_key"])
    assert again.status_code == 200 and again.json()["data"]["id"] == keyed["id"]
    assert again.json()["data"]["status"] == "cancelled"
    entries = await changelog_entries(settings)
    assert entries[keyed["id"]] is not None and entries[plain["id"]] is None


async def test_archives_survive_a_crash_of_the_stream_processors(
    api: httpx.AsyncClient, settings: Settings, streams: StreamsProcess
) -> None:
    q = await queue(api)
    before = (await submit(api, q["name"])).json()["data"]["id"]
    assert (await api.post(f"/api/v1/jobs/{before}/cancel", headers=AUTH)).status_code == 200
    await archived(api, before)

    # ended just before the crash: its retention passes while the owner is down, so only the schedule the
    # restarted owner rebuilds from its table can archive it
    failing, lease_id = await leased(api, settings, q["name"], max_attempts=1)
    failed = await command(api, settings, FailJob(job_id=uuid.UUID(failing), lease_id=lease_id, error_message="x"))
    assert failed.job is not None and failed.job.status == "failed"
    streams.kill()
    streams.start()
    await wait_for_owner(api.app.state.context.commands)  # type: ignore[attr-defined]

    assert await archived(api, failing, timeout=60) == ["JobSubmitted", "JobLeased", "JobAttemptFailed", "JobFailed",
                                                        "JobArchived"]
    assert (await history(api, before)).count("JobArchived") == 1
    entries = await changelog_entries(settings)
    assert entries[before] is None and entries[failing] is None
    assert_archived_conflict(await api.post(f"/api/v1/jobs/{failing}/retry", headers=AUTH), "failed")
