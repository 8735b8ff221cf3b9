"""Request budgets through the real API: headers on every answer, 429 with Retry-After, separate
read/write budgets per credential, per-IP limits behind a trusted proxy, failed-login limits, and
per-route overrides."""

from __future__ import annotations

import uuid

import httpx
import pytest

from taskforge.settings import Settings
from tests.integration.test_identity import PASSWORD, bearer, create_key, register
from tests.support import assert_error, scoped_settings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def settings(broker_settings: Settings) -> Settings:
    return scoped_settings(broker_settings.data_dir, broker_settings.kafka_port, broker_settings.kafka_controller_port,
                           rate_limit_ip_per_hour=5, trusted_proxies=["127.0.0.1/32"], login_failures_per_account=3,
                           rate_limit_endpoints={"POST /api/v1/projects": 2})


def from_ip(ip: str, **headers: str) -> dict[str, str]:
    return {"X-Forwarded-For": ip, **headers}


async def admin_of(api: httpx.AsyncClient) -> dict[str, str]:
    # registration draws on the IP budget: each test registers from an address of its own
    ip = f"10.1.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"
    response = await api.post("/api/v1/auth/register", headers=from_ip(ip), json={
        "email": f"{uuid.uuid4().hex[:10]}@example.com", "password": PASSWORD, "organization_name": "Limits"})
    assert response.status_code == 201, response.text
    return bearer(response.json()["data"]["tokens"]["access_token"])


async def test_every_answer_carries_the_budget_and_a_key_can_have_its_own(api: httpx.AsyncClient) -> None:
    admin = await admin_of(api)
    first = await api.get("/api/v1/queues", headers=admin)
    second = await api.get("/api/v1/queues", headers=admin)
    assert int(first.headers["X-RateLimit-Limit"]) == 10_000_000
    assert int(second.headers["X-RateLimit-Remaining"]) == int(first.headers["X-RateLimit-Remaining"]) - 1
    assert int(first.headers["X-RateLimit-Reset"]) > 0

    key = await create_key(api, admin, permissions=["queue:read", "queue:write"], rate_limits={"read_per_hour": 3})
    reads = [await api.get("/api/v1/queues", headers=bearer(key["key"])) for _ in range(4)]
    assert [r.status_code for r in reads] == [200, 200, 200, 429]
    assert [r.headers["X-RateLimit-Remaining"] for r in reads] == ["2", "1", "0", "0"]
    body = assert_error(reads[-1], 429, "RATE_LIMIT_EXCEEDED")
    assert int(reads[-1].headers["Retry-After"]) >= 1 and body["error"]["details"]["retry_after"] >= 1
    # writes have a budget of their own
    created = await api.post("/api/v1/queues", headers=bearer(key["key"]), json={"name": "still-writable"})
    assert created.status_code == 201, created.text


async def test_unauthenticated_calls_spend_their_address_budget(api: httpx.AsyncClient) -> None:
    answers = [await api.get("/api/v1/queues", headers=from_ip("203.0.113.7", Authorization="Bearer tf_guess"))
               for _ in range(6)]
    assert [a.status_code for a in answers] == [401] * 5 + [429]
    other = await api.get("/api/v1/queues", headers=from_ip("203.0.113.8", Authorization="Bearer tf_guess"))
    assert other.status_code == 401  # another client behind the same proxy has its own budget


async def test_failed_logins_are_limited_per_account(api: httpx.AsyncClient) -> None:
    account = await register(api, headers=from_ip("198.51.100.1"))
    email = account["email"]
    for i in range(3):
        response = await api.post("/api/v1/auth/login", headers=from_ip(f"198.51.100.{10 + i}"),
                                  json={"email": email, "password": "Wrong-password-1"})
        assert_error(response, 401, "AUTH_001")
    locked = await api.post("/api/v1/auth/login", headers=from_ip("198.51.100.50"),
                            json={"email": email, "password": PASSWORD})
    assert_error(locked, 429, "RATE_LIMIT_EXCEEDED")
    assert int(locked.headers["Retry-After"]) >= 1


async def test_a_route_can_have_a_limit_of_its_own(api: httpx.AsyncClient) -> None:
    admin = await admin_of(api)
    answers = [await api.post("/api/v1/projects", headers=admin, json={"name": f"p{i}"}) for i in range(3)]
    assert [a.status_code for a in answers] == [201, 201, 429]
    assert answers[-1].headers["X-RateLimit-Limit"] == "2"
