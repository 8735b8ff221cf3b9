"""Tenancy: every route, walked with a second tenant's admin credentials against the first tenant's
ids, answers 404 RESOURCE_NOT_FOUND (the answer for an id that does not exist), and changes nothing;
lists show only the caller's own resources."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from taskforge.settings import Settings
from tests.integration.test_identity import PASSWORD, bearer, register
from tests.support import AUTH, assert_error

pytestmark = pytest.mark.integration

LEASE = str(uuid.uuid4())
BODIES: dict[tuple[str, str], dict[str, Any] | None] = {
    ("POST", "/api/v1/jobs/{job_id}/complete"): {"lease_id": LEASE, "output": {"ok": True}},
    ("POST", "/api/v1/jobs/{job_id}/fail"): {"lease_id": LEASE, "error_message": "boom"},
    ("POST", "/api/v1/jobs/{job_id}/extend"): {"lease_id": LEASE, "seconds": 30},
    ("POST", "/api/v1/jobs/{job_id}/cancel"): None,
    ("POST", "/api/v1/jobs/{job_id}/retry"): None,
    ("GET", "/api/v1/jobs/{job_id}"): None,
    ("GET", "/api/v1/jobs/{job_id}/events"): None,
    ("GET", "/api/v1/jobs/{job_id}/stats"): None,
    ("GET", "/api/v1/queues/{queue_id}"): None,
    ("GET", "/api/v1/queues/{queue_id}/stats"): None,
    ("PUT", "/api/v1/queues/{queue_id}"): {"description": "taken over"},
    ("POST", "/api/v1/queues/{queue_id}/pause"): None,
    ("POST", "/api/v1/queues/{queue_id}/resume"): None,
    ("DELETE", "/api/v1/queues/{queue_id}"): None,
    ("GET", "/api/v1/metrics/queues/{queue_id}"): None,
    ("GET", "/api/v1/workers/{worker_id}"): None,
    ("POST", "/api/v1/workers/{worker_id}/heartbeat"): None,
    ("POST", "/api/v1/workers/{worker_id}/drain"): None,
    ("POST", "/api/v1/workers/{worker_id}/lease"): {"max_jobs": 1},
    ("DELETE", "/api/v1/workers/{worker_id}"): None,
    ("GET", "/api/v1/users/{user_id}"): None,
    ("DELETE", "/api/v1/users/{user_id}"): None,
    ("GET", "/api/v1/organizations/{organization_id}"): None,
    ("PUT", "/api/v1/organizations/{organization_id}"): {"tier": "enterprise"},
    ("GET", "/api/v1/projects/{project_id}"): None,
    ("PUT", "/api/v1/projects/{project_id}"): {"name": "taken-over"},
    ("DELETE", "/api/v1/projects/{project_id}"): None,
    ("DELETE", "/api/v1/api-keys/{key_id}"): None,
    ("DELETE", "/api/v1/oauth/clients/{client_id}"): None,
}


async def first_tenant(api: httpx.AsyncClient, settings: Settings) -> dict[str, str]:
    """Resources of every kind in the bootstrap tenant."""
    async def created(path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await api.post(path, headers=AUTH, json=body)
        assert response.status_code == 201, response.text
        return response.json()["data"]

    name = f"tenant-a-{uuid.uuid4().hex[:6]}"
    queue = await created("/api/v1/queues", {"name": name})
    job = await created("/api/v1/jobs", {"queue_name": name, "job_type": "t", "payload": {}})
    worker = await created("/api/v1/workers", {"name": "wa", "queues": [name]})
    user = await created("/api/v1/users", {"email": f"a-{uuid.uuid4().hex[:6]}@example.com", "password": PASSWORD})
    project = await created("/api/v1/projects", {"name": f"a-{uuid.uuid4().hex[:6]}"})
    key = await created("/api/v1/api-keys", {"name": "a", "permissions": ["job:read"]})
    client = await created("/api/v1/oauth/clients", {"name": "a", "scopes": ["job:read"]})
    return {"job_id": job["id"], "queue_id": queue["id"], "worker_id": worker["id"], "user_id": user["id"],
            "organization_id": str(settings.bootstrap_organization_id), "project_id": project["id"],
            "key_id": key["id"], "client_id": client["client_id"]}


async def test_every_route_with_an_id_answers_404_to_another_tenant(api: httpx.AsyncClient,
                                                                     settings: Settings) -> None:
    ids = await first_tenant(api, settings)
    intruder = bearer((await register(api, org="Intruder"))["tokens"]["access_token"])
    schema = (await api.get("/openapi.json")).json()
    routes = {(method.upper(), path) for path, operations in schema["paths"].items() if "{" in path
              for method in operations}
    assert routes and routes <= set(BODIES), f"routes the walk does not know: {sorted(routes - set(BODIES))}"
    assert set(BODIES) <= routes, f"the walk names routes that do not exist: {sorted(set(BODIES) - routes)}"

    for (method, template), body in sorted(BODIES.items()):
        path = template.format(**ids)
        response = await api.request(method, path, headers=intruder, json=body)
        assert_error(response, 404, "RESOURCE_NOT_FOUND")
        # and an id that does not exist at all gets exactly the same kind of answer
        unknown = template.format(**{name: str(uuid.uuid4()) for name in ids})
        assert_error(await api.request(method, unknown, headers=intruder, json=body), 404, "RESOURCE_NOT_FOUND")

    # nothing changed for the owner
    assert (await api.get(f"/api/v1/queues/{ids['queue_id']}", headers=AUTH)).json()["data"]["is_active"] is True
    assert (await api.get(f"/api/v1/jobs/{ids['job_id']}", headers=AUTH)).json()["data"]["status"] == "pending"
    keys = (await api.get("/api/v1/api-keys", headers=AUTH)).json()["data"]["api_keys"]
    assert ids["key_id"] in [k["id"] for k in keys]


async def test_lists_show_only_the_callers_own(api: httpx.AsyncClient, settings: Settings) -> None:
    await first_tenant(api, settings)
    intruder = bearer((await register(api, org="Lister"))["tokens"]["access_token"])
    for path, field in [("/api/v1/queues", "queues"), ("/api/v1/jobs", "jobs"), ("/api/v1/workers", "workers"),
                        ("/api/v1/api-keys", "api_keys"), ("/api/v1/oauth/clients", "clients")]:
        response = await api.get(path, headers=intruder)
        assert response.status_code == 200, response.text
        assert response.json()["data"][field] == [], path
    users = (await api.get("/api/v1/users", headers=intruder)).json()["data"]["users"]
    assert len(users) == 1
    projects = (await api.get("/api/v1/projects", headers=intruder)).json()["data"]["projects"]
    assert [p["name"] for p in projects] == ["default"]
    orgs = (await api.get("/api/v1/organizations", headers=intruder)).json()["data"]["organizations"]
    assert [o["name"] for o in orgs] == ["Lister"]
    # a project id of the other tenant, named in a header or a body, is not found either
    foreign_project = (await api.get("/api/v1/projects", headers=AUTH)).json()["data"]["projects"][0]["id"]
    assert_error(await api.get("/api/v1/jobs", headers={**intruder, "X-Project-Id": foreign_project}),
                 404, "RESOURCE_NOT_FOUND")
    assert_error(await api.post("/api/v1/queues", headers=intruder, json={"name": "x", "project_id": foreign_project}),
                 404, "RESOURCE_NOT_FOUND")
