"""Queues and jobs through the real app: real Kafka, real chdb, in-process ASGI."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.support import AUTH, assert_error, eventually, until_listed

pytestmark = pytest.mark.integration


async def create_queue(api: httpx.AsyncClient, name: str | None = None, **extra: Any) -> dict[str, Any]:
    response = await api.post("/api/v1/queues", json={"name": name or f"q-{uuid.uuid4().hex[:8]}", **extra}, headers=AUTH)
    assert response.status_code == 201, response.text
    return response.json()["data"]


async def submit(api: httpx.AsyncClient, queue: str, **extra: Any) -> httpx.Response:
    body = {"queue_name": queue, "job_type": "send_email", "payload": {"to": "a@example.com"}, **extra}
    return await api.post("/api/v1/jobs", json=body, headers=AUTH)


async def test_a_submitted_job_is_readable_at_once(api: httpx.AsyncClient) -> None:
    queue = await create_queue(api)
    response = await submit(api, queue["name"], priority=7, max_attempts=2, idempotency_key="key-1")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["success"] is True and body["message"] == "Job submitted successfully"
    job = body["data"]
    assert job["status"] == "pending" and job["queue_id"] == queue["id"] and job["attempt_count"] == 0

    got = await api.get(f"/api/v1/jobs/{job['id']}", headers=AUTH)  # no waiting: read-your-writes
    assert got.status_code == 200, got.text
    read = got.json()["data"]
    for field in ("id", "queue_id", "job_type", "payload", "status", "priority", "max_attempts", "attempt_count",
                  "idempotency_key", "created_at"):
        assert read[field] == job[field], field
    assert read["output"] is None and read["error_message"] is None and read["completed_at"] is None
    assert read["created_at"].endswith("Z")


async def test_max_attempts_defaults_to_the_queues_retries_plus_one(api: httpx.AsyncClient) -> None:
    queue = await create_queue(api, settings={"max_retries": 5})
    job = (await submit(api, queue["name"])).json()["data"]
    assert job["max_attempts"] == 6


async def test_a_job_for_later_is_scheduled(api: httpx.AsyncClient) -> None:
    queue = await create_queue(api)
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    response = await api.post("/api/v1/jobs/scheduled", headers=AUTH,
                              json={"queue_name": queue["name"], "job_type": "report", "scheduled_for": later})
    assert response.status_code == 201, response.text
    job = response.json()["data"]
    assert job["status"] == "scheduled"
    read = (await api.get(f"/api/v1/jobs/{job['id']}", headers=AUTH)).json()["data"]
    assert read["status"] == "scheduled"
    assert datetime.fromisoformat(read["scheduled_for"]) == datetime.fromisoformat(later)


async def test_listing_filters_and_paginates(api: httpx.AsyncClient) -> None:
    queue = await create_queue(api)
    other = await create_queue(api)
    ids = [(await submit(api, queue["name"], job_type=f"type-{i % 2}")).json()["data"]["id"] for i in range(5)]
    await submit(api, other["name"])
    await until_listed(api, queue["id"], len(ids))

    page1 = (await api.get("/api/v1/jobs", params={"queue_id": queue["id"], "limit": 2}, headers=AUTH)).json()["data"]
    assert page1["pagination"] == {"page": 1, "limit": 2, "total": 5, "pages": 3}
    assert [j["id"] for j in page1["jobs"]] == ids[::-1][:2]  # newest first
    page3 = (await api.get("/api/v1/jobs", params={"queue_id": queue["id"], "limit": 2, "page": 3}, headers=AUTH)).json()
    assert [j["id"] for j in page3["data"]["jobs"]] == [ids[0]]

    typed = (await api.get("/api/v1/jobs", params={"queue_id": queue["id"], "job_type": "type-0"}, headers=AUTH)).json()
    assert sorted(j["id"] for j in typed["data"]["jobs"]) == sorted(ids[0::2])
    pending = (await api.get("/api/v1/jobs", params={"queue_id": queue["id"], "status": "succeeded"}, headers=AUTH)).json()
    assert pending["data"]["pagination"]["total"] == 0
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    after = (await api.get("/api/v1/jobs", params={"created_after": future}, headers=AUTH)).json()
    assert after["data"]["jobs"] == []
    item = page1["jobs"][0]
    assert set(item) >= {"id", "queue_id", "job_type", "status", "priority", "created_at"}


async def test_listing_sorts_by_time_or_priority(api: httpx.AsyncClient) -> None:
    queue = await create_queue(api)
    priorities = [3, 9, 3, 1]
    ids = [(await submit(api, queue["name"], priority=p)).json()["data"]["id"] for p in priorities]
    await until_listed(api, queue["id"], len(ids))

    async def listed(sort: str | None, **extra: Any) -> list[str]:
        params = {"queue_id": queue["id"], **({"sort": sort} if sort else {}), **extra}
        body = (await api.get("/api/v1/jobs", params=params, headers=AUTH)).json()["data"]
        return [j["id"] for j in body["jobs"]]

    assert await listed(None) == await listed("-created_at") == ids[::-1]
    assert await listed("created_at") == ids
    assert await listed("-priority") == [ids[1], ids[0], ids[2], ids[3]], "highest first, then oldest first"
    assert await listed("priority") == [ids[3], ids[0], ids[2], ids[1]]
    assert await listed("-priority", limit=2, page=2) == [ids[2], ids[3]], "pages follow the same order"


async def test_request_id_is_echoed_and_generated(api: httpx.AsyncClient) -> None:
    given = await api.get("/health", headers={"X-Request-ID": "trace-abc_123"})
    assert given.headers["x-request-id"] == "trace-abc_123" and given.json()["request_id"] == "trace-abc_123"
    hostile = await api.get("/health", headers={"X-Request-ID": "x" * 500})
    assert uuid.UUID(hostile.headers["x-request-id"])  # replaced, not echoed


async def test_security_headers_on_every_response(api: httpx.AsyncClient) -> None:
    for response in (await api.get("/health"), await api.get("/api/v1/jobs"), await api.get("/nope")):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "SAMEORIGIN"
        assert response.headers["x-xss-protection"] == "1; mode=block"
        assert "default-src" in response.headers["content-security-policy"]


async def test_health_and_ready_need_no_auth(api: httpx.AsyncClient) -> None:
    assert (await api.get("/health")).json()["data"]["status"] == "ok"
    ready = await api.get("/ready")
    assert ready.status_code == 200 and ready.json()["data"]["checks"] == {"kafka": True, "clickhouse": True,
                                                                          "identity": True}


# --- bad input: a precise 4xx in the envelope, and nothing recorded ------------------------------------------


async def jobs_total(api: httpx.AsyncClient) -> int:
    return (await api.get("/api/v1/jobs", headers=AUTH)).json()["data"]["pagination"]["total"]


@pytest.mark.parametrize(
    ("headers", "code"),
    [({}, "AUTH_001"), ({"Authorization": "Bearer tf_wrong"}, "AUTH_001"), ({"Authorization": "Basic abc"}, "AUTH_001"),
     ({"X-API-Key": "tf_" + "x" * 40}, "AUTH_001")],
)
async def test_unauthenticated_requests_are_refused(api: httpx.AsyncClient, headers: dict[str, str], code: str) -> None:
    for response in (await api.get("/api/v1/jobs", headers=headers),
                     await api.post("/api/v1/queues", json={"name": "x"}, headers=headers)):
        assert_error(response, 401, code)
        assert response.headers["www-authenticate"] == "Bearer"


async def test_the_api_key_header_is_accepted(api: httpx.AsyncClient) -> None:
    response = await api.get("/api/v1/jobs", headers={"X-API-Key": AUTH["Authorization"].split()[1]})
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"job_type": "t"}, "queue_name"),
        ({"queue_name": "q", "job_type": "t", "priority": 10}, "priority"),
        ({"queue_name": "q", "job_type": "t", "priority": -1}, "priority"),
        ({"queue_name": "q", "job_type": "t", "max_attempts": 11}, "max_attempts"),
        ({"queue_name": "q", "job_type": "t", "max_attempts": 0}, "max_attempts"),
        ({"queue_name": "q" * 101, "job_type": "t"}, "queue_name"),
        ({"queue_name": "q", "job_type": ""}, "job_type"),
        ({"queue_name": "q", "job_type": "t", "payload": [1]}, "payload"),
        ({"queue_name": "q", "job_type": "t", "scheduled_for": "2026-01-01T00:00:00"}, "scheduled_for"),
        ({"queue_name": "q", "job_type": "t", "surprise": True}, "surprise"),
    ],
)
async def test_invalid_jobs_get_422_naming_the_field(api: httpx.AsyncClient, body: dict[str, Any], field: str) -> None:
    before = await jobs_total(api)
    body = assert_error(await api.post("/api/v1/jobs", json=body, headers=AUTH), 422, "VALIDATION_001")
    assert field in {e["field"] for e in body["error"]["details"]["errors"]}
    assert await jobs_total(api) == before


async def test_malformed_json_gets_400(api: httpx.AsyncClient) -> None:
    response = await api.post("/api/v1/jobs", content=b'{"queue_name": ', headers={**AUTH, "Content-Type": "application/json"})
    assert_error(response, 400, "VALIDATION_001")


async def test_a_body_that_is_not_json_gets_415(api: httpx.AsyncClient) -> None:
    response = await api.post("/api/v1/jobs", content=b"queue_name=q", headers={**AUTH, "Content-Type": "text/plain"})
    assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")


async def test_an_oversized_payload_gets_413_and_records_nothing(api: httpx.AsyncClient) -> None:
    queue = await create_queue(api)
    before = await jobs_total(api)
    big = {"blob": "x" * (256 * 1024)}
    body = assert_error(await submit(api, queue["name"], payload=big), 413, "PAYLOAD_TOO_LARGE")
    assert body["error"]["details"]["limit"] == 256 * 1024
    assert await jobs_total(api) == before


async def test_an_oversized_body_is_refused_before_it_is_read(api: httpx.AsyncClient) -> None:
    response = await api.post("/api/v1/jobs", content=b"{" + b" " * (2 * 1024 * 1024) + b"}",
                              headers={**AUTH, "Content-Type": "application/json"})
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")


async def test_an_unknown_queue_gets_404(api: httpx.AsyncClient) -> None:
    body = assert_error(await submit(api, "no-such-queue"), 404, "RESOURCE_NOT_FOUND")
    assert "no-such-queue" in body["error"]["message"]


async def test_unknown_and_malformed_job_ids(api: httpx.AsyncClient) -> None:
    assert_error(await api.get(f"/api/v1/jobs/{uuid.uuid4()}", headers=AUTH), 404, "RESOURCE_NOT_FOUND")
    assert_error(await api.get("/api/v1/jobs/not-a-uuid", headers=AUTH), 422, "VALIDATION_001")


@pytest.mark.parametrize("params", [{"limit": 101}, {"limit": 0}, {"page": 0}, {"status": "exploded"},
                                    {"queue_id": "nope"}, {"created_after": "2026-01-01T00:00:00"},
                                    {"sort": "payload"}, {"sort": "created_at desc"}])
async def test_bad_list_parameters_get_422(api: httpx.AsyncClient, params: dict[str, Any]) -> None:
    assert_error(await api.get("/api/v1/jobs", params=params, headers=AUTH), 422, "VALIDATION_001")


async def test_unknown_route_and_wrong_method(api: httpx.AsyncClient) -> None:
    assert_error(await api.get("/api/v1/nothing-here", headers=AUTH), 404, "RESOURCE_NOT_FOUND")
    assert_error(await api.delete("/api/v1/jobs", headers=AUTH), 405, "METHOD_NOT_ALLOWED")


async def test_a_duplicate_queue_name_gets_409(api: httpx.AsyncClient) -> None:
    queue = await create_queue(api)
    response = await api.post("/api/v1/queues", json={"name": queue["name"]}, headers=AUTH)
    assert_error(response, 409, "RESOURCE_CONFLICT")


async def test_a_queue_for_another_project_is_not_found(api: httpx.AsyncClient) -> None:
    response = await api.post("/api/v1/queues", json={"name": "elsewhere", "project_id": str(uuid.uuid4())}, headers=AUTH)
    assert_error(response, 404, "RESOURCE_NOT_FOUND")


async def test_a_dead_letter_queue_must_exist(api: httpx.AsyncClient) -> None:
    response = await api.post("/api/v1/queues", headers=AUTH,
                              json={"name": "with-dlq", "settings": {"dead_letter_queue_id": str(uuid.uuid4())}})
    assert_error(response, 422, "VALIDATION_001")
    dlq = await create_queue(api)
    ok = await create_queue(api, settings={"dead_letter_queue_id": dlq["id"]})
    assert ok["settings"]["dead_letter_queue_id"] == dlq["id"]


async def test_scheduling_too_far_ahead_is_refused(api: httpx.AsyncClient) -> None:
    queue = await create_queue(api)
    far = (datetime.now(UTC) + timedelta(days=400)).isoformat()
    assert_error(await submit(api, queue["name"], scheduled_for=far), 422, "VALIDATION_001")


async def test_openapi_describes_the_routes(api: httpx.AsyncClient) -> None:
    spec = (await api.get("/openapi.json")).json()
    assert {"/api/v1/jobs", "/api/v1/jobs/{job_id}", "/api/v1/jobs/scheduled", "/api/v1/queues", "/health",
            "/ready"} <= set(spec["paths"])
    assert "422" in spec["paths"]["/api/v1/jobs"]["post"]["responses"]


async def test_an_unexpected_error_is_a_500_in_the_envelope(api: httpx.AsyncClient) -> None:
    app = api.app  # type: ignore[attr-defined]

    async def broken() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/api/v1/test-only-broken", broken, methods=["GET"])
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.get("/api/v1/test-only-broken", headers={"X-Request-ID": "bug-1"})
    body = assert_error(response, 500, "INTERNAL_ERROR")
    assert body["request_id"] == "bug-1"
    assert "a bug" not in response.text, "internals are not leaked to the caller"


async def test_queues_are_listed_and_read_with_their_job_counts(api: httpx.AsyncClient) -> None:
    queue = await create_queue(api, description="counted", priority=3)
    ids = [(await submit(api, queue["name"])).json()["data"]["id"] for _ in range(3)]
    await api.post(f"/api/v1/jobs/{ids[0]}/cancel", headers=AUTH)

    async def counted() -> dict[str, Any] | None:
        got = (await api.get(f"/api/v1/queues/{queue['id']}", headers=AUTH)).json()["data"]
        return got if got["stats"]["pending_jobs"] == 2 and got["stats"]["cancelled_jobs"] == 1 else None

    got = await eventually(counted, timeout=5)
    assert (got["name"], got["description"], got["priority"]) == (queue["name"], "counted", 3)
    assert got["stats"]["succeeded_jobs"] == 0 and got["settings"] == queue["settings"]
    page = (await api.get("/api/v1/queues", params={"limit": 100}, headers=AUTH)).json()["data"]
    assert queue["id"] in {q["id"] for q in page["queues"]}
    assert page["pagination"]["total"] >= 1
    assert (await api.get("/api/v1/queues", params={"project_id": str(uuid.uuid4())}, headers=AUTH)).json()[
        "data"]["queues"] == [], "another project's queues are not listed"
    assert_error(await api.get(f"/api/v1/queues/{uuid.uuid4()}", headers=AUTH), 404, "RESOURCE_NOT_FOUND")
    assert_error(await api.get("/api/v1/queues", params={"limit": 101}, headers=AUTH), 422, "VALIDATION_001")
