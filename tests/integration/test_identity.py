"""Identity against the real identity owner, Kafka and the API: registration, login, refresh rotation,
logout, users, organizations, projects, API keys, OAuth2 clients, and secrets never in the clear."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from producers.topics import Topics
from taskforge.settings import Settings
from tests.support import AUTH, assert_error, eventually

pytestmark = pytest.mark.integration
PASSWORD = "correct-Horse-battery-9"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def register(api: httpx.AsyncClient, email: str | None = None, org: str = "Acme",
                   headers: dict[str, str] | None = None) -> dict[str, Any]:
    email = email or f"{uuid.uuid4().hex[:10]}@example.com"
    response = await api.post("/api/v1/auth/register", headers=headers, json={
        "email": email, "password": PASSWORD, "organization_name": org, "name": "Ada"})
    assert response.status_code == 201, response.text
    return {**response.json()["data"], "email": email}


async def login(api: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    return await api.post("/api/v1/auth/login", json={"email": email, "password": password})


async def test_register_then_login_gives_tokens_of_the_seed_shape(api: httpx.AsyncClient) -> None:
    account = await register(api)
    assert account["user"]["role"] == "admin" and account["project"]["name"] == "default"
    assert account["organization"]["default_project_id"] == account["project"]["id"]
    response = await login(api, account["email"].upper())  # emails are case-insensitive
    assert response.status_code == 200, response.text
    tokens = response.json()["data"]
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 3600
    assert tokens["refresh_token"].startswith("tfr_")
    me = await api.get("/api/v1/users/me", headers=bearer(tokens["access_token"]))
    assert me.status_code == 200 and me.json()["data"]["email"] == account["email"]
    assert "password_hash" not in me.text


async def test_login_failure_is_the_same_whether_the_email_exists_or_not(api: httpx.AsyncClient) -> None:
    account = await register(api)
    wrong_password = await login(api, account["email"], "Wrong-password-123")
    no_such_user = await login(api, f"nobody-{uuid.uuid4().hex[:6]}@example.com", "Wrong-password-123")
    for response in (wrong_password, no_such_user):
        body = assert_error(response, 401, "AUTH_001")
    assert wrong_password.json()["error"]["message"] == no_such_user.json()["error"]["message"]
    assert body["error"]["details"] == {}


@pytest.mark.parametrize("password", ["short1A", "alllowercaseletters", "aaaaaaaaaaaaaaaa1"])
async def test_weak_passwords_are_refused_naming_the_rule(api: httpx.AsyncClient, password: str) -> None:
    response = await api.post("/api/v1/auth/register", json={
        "email": f"{uuid.uuid4().hex[:8]}@example.com", "password": password, "organization_name": "Weak"})
    body = assert_error(response, 422, "VALIDATION_001")
    assert body["error"]["details"]["errors"][0]["field"] == "password"


async def test_an_email_registers_once_even_when_registrations_race(api: httpx.AsyncClient) -> None:
    email = f"race-{uuid.uuid4().hex[:8]}@example.com"
    answers = await asyncio.gather(*(api.post("/api/v1/auth/register", json={
        "email": email, "password": PASSWORD, "organization_name": f"Org {i}"}) for i in range(5)))
    assert sorted(r.status_code for r in answers) == [201, 409, 409, 409, 409]


async def test_refresh_rotates_and_a_reused_refresh_token_ends_the_whole_session(api: httpx.AsyncClient) -> None:
    account = await register(api)
    first = account["tokens"]
    second = await api.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200, second.text
    second_tokens = second.json()["data"]
    assert second_tokens["refresh_token"] != first["refresh_token"]
    assert (await api.get("/api/v1/auth/validate", headers=bearer(second_tokens["access_token"]))).status_code == 200

    reused = await api.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert_error(reused, 401, "AUTH_001")
    assert "already used" in reused.json()["error"]["message"]
    # the thief's reuse revoked the family: the legitimate newer token is dead too, and its access token
    assert_error(await api.post("/api/v1/auth/refresh", json={"refresh_token": second_tokens["refresh_token"]}),
                 401, "AUTH_001")
    assert_error(await api.get("/api/v1/auth/validate", headers=bearer(second_tokens["access_token"])),
                 401, "AUTH_001")


async def test_logout_revokes_the_access_token_and_its_refresh_token(api: httpx.AsyncClient) -> None:
    tokens = (await register(api))["tokens"]
    assert (await api.post("/api/v1/auth/logout", headers=bearer(tokens["access_token"]))).status_code == 200
    assert_error(await api.get("/api/v1/users/me", headers=bearer(tokens["access_token"])), 401, "AUTH_001")
    assert_error(await api.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}),
                 401, "AUTH_001")


async def test_expired_tampered_and_foreign_tokens(api: httpx.AsyncClient, settings: Settings) -> None:
    account = await register(api)
    ctx = api.app.state.context  # type: ignore[attr-defined]
    org_id, user_id = uuid.UUID(account["organization"]["id"]), uuid.UUID(account["user"]["id"])
    old = ctx.signer.issue(subject_kind="user", subject_id=user_id, organization_id=org_id, scopes=("job:read",),
                           now=datetime.now(UTC) - timedelta(hours=2), session_id=None)
    assert_error(await api.get("/api/v1/auth/validate", headers=bearer(old.token)), 401, "AUTH_002")
    good = account["tokens"]["access_token"]
    head, payload, signature = good.split(".")
    tampered = f"{head}.{payload}.{signature[:-4]}AAAA"
    assert_error(await api.get("/api/v1/auth/validate", headers=bearer(tampered)), 401, "AUTH_001")
    import jwt
    foreign = jwt.encode({"sub": str(user_id), "org": str(org_id), "knd": "user", "jti": str(uuid.uuid4()),
                          "iat": 1, "exp": 4_000_000_000, "iss": "someone-else", "aud": settings.jwt_audience},
                         settings.jwt_secret.get_secret_value(), algorithm="HS256")  # type: ignore[union-attr]
    assert_error(await api.get("/api/v1/auth/validate", headers=bearer(foreign)), 401, "AUTH_001")
    none_alg = jwt.encode({"sub": str(user_id)}, key="", algorithm="none")
    assert_error(await api.get("/api/v1/auth/validate", headers=bearer(none_alg)), 401, "AUTH_001")


async def create_key(api: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    response = await api.post("/api/v1/api-keys", headers=headers,
                              json={"name": "ci", "permissions": ["job:read", "queue:read"], **body})
    assert response.status_code == 201, response.text
    return response.json()["data"]


async def test_api_keys_are_shown_once_work_both_ways_and_die_when_revoked(api: httpx.AsyncClient) -> None:
    admin = bearer((await register(api))["tokens"]["access_token"])
    key = await create_key(api, admin)
    assert key["key"].startswith("tf_") and len(key["key"]) >= 35 and key["key"].startswith(key["prefix"])
    listed = (await api.get("/api/v1/api-keys", headers=admin)).json()["data"]["api_keys"]
    assert [k["id"] for k in listed] == [key["id"]]
    assert key["key"] not in str(listed) and "hash" not in str(listed)

    assert (await api.get("/api/v1/queues", headers=bearer(key["key"]))).status_code == 200
    assert (await api.get("/api/v1/queues", headers={"X-API-Key": key["key"]})).status_code == 200
    forbidden = await api.post("/api/v1/queues", headers={"X-API-Key": key["key"]}, json={"name": "nope"})
    assert_error(forbidden, 403, "PERM_001")

    assert (await api.delete(f"/api/v1/api-keys/{key['id']}", headers=admin)).status_code == 200
    assert_error(await api.get("/api/v1/queues", headers={"X-API-Key": key["key"]}), 401, "AUTH_001")


async def test_a_key_cannot_get_more_than_its_creator_holds_and_expired_keys_say_so(api: httpx.AsyncClient) -> None:
    admin = bearer((await register(api))["tokens"]["access_token"])
    reader = await create_key(api, admin, permissions=["project:admin", "queue:read"])
    escalation = await api.post("/api/v1/api-keys", headers=bearer(reader["key"]),
                                json={"name": "more", "permissions": ["job:write"]})
    assert_error(escalation, 403, "PERM_001")
    soon = (datetime.now(UTC) + timedelta(seconds=1.5)).isoformat()
    short_lived = await create_key(api, admin, expires_at=soon)
    assert (await api.get("/api/v1/queues", headers=bearer(short_lived["key"]))).status_code == 200

    async def expired() -> httpx.Response | None:
        response = await api.get("/api/v1/queues", headers=bearer(short_lived["key"]))
        return response if response.status_code != 200 else None

    assert_error(await eventually(expired, timeout=5.0, interval=0.1), 401, "AUTH_002")
    past = await api.post("/api/v1/api-keys", headers=admin, json={
        "name": "past", "permissions": ["job:read"], "expires_at": "2020-01-01T00:00:00Z"})
    assert_error(past, 409, "RESOURCE_CONFLICT")


async def test_a_revoked_key_is_refused_by_another_replica_within_a_second(
    api: httpx.AsyncClient, settings: Settings
) -> None:
    from api.app import create_app

    admin = bearer((await register(api))["tokens"]["access_token"])
    key = await create_key(api, admin)
    other = create_app(settings)
    async with other.router.lifespan_context(other):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=other), base_url="http://replica") as replica:
            assert (await replica.get("/api/v1/queues", headers=bearer(key["key"]))).status_code == 200
            assert (await api.delete(f"/api/v1/api-keys/{key['id']}", headers=admin)).status_code == 200
            started = asyncio.get_running_loop().time()

            async def refused() -> bool:
                return (await replica.get("/api/v1/queues", headers=bearer(key["key"]))).status_code == 401

            await eventually(refused, timeout=5.0, interval=0.02)
            assert asyncio.get_running_loop().time() - started < 1.0


async def test_users_roles_and_the_last_admin(api: httpx.AsyncClient) -> None:
    account = await register(api)
    admin = bearer(account["tokens"]["access_token"])
    email = f"member-{uuid.uuid4().hex[:6]}@example.com"
    created = await api.post("/api/v1/users", headers=admin, json={"email": email, "password": PASSWORD})
    assert created.status_code == 201, created.text
    member_id = created.json()["data"]["id"]
    member = bearer((await login(api, email)).json()["data"]["access_token"])
    assert_error(await api.get("/api/v1/users", headers=member), 403, "PERM_001")
    assert_error(await api.post("/api/v1/projects", headers=member, json={"name": "x"}), 403, "PERM_001")
    users = (await api.get("/api/v1/users", headers=admin)).json()["data"]
    assert users["pagination"]["total"] == 2
    assert (await api.get(f"/api/v1/users/{member_id}", headers=admin)).json()["data"]["role"] == "member"

    no_current = await api.put("/api/v1/users/me", headers=member, json={"password": "Another-pass-word-5"})
    assert_error(no_current, 422, "VALIDATION_001")
    changed = await api.put("/api/v1/users/me", headers=member, json={
        "password": "Another-pass-word-5", "current_password": PASSWORD, "name": "Grace"})
    assert changed.status_code == 200 and changed.json()["data"]["name"] == "Grace"
    assert (await login(api, email, "Another-pass-word-5")).status_code == 200
    assert_error(await login(api, email), 401, "AUTH_001")

    assert_error(await api.delete("/api/v1/users/me", headers=admin), 409, "RESOURCE_CONFLICT")  # the last admin
    assert (await api.delete(f"/api/v1/users/{member_id}", headers=admin)).status_code == 200
    assert_error(await api.get("/api/v1/users/me", headers=member), 401, "AUTH_001")  # its token died with it


async def test_organizations_are_the_callers_own(api: httpx.AsyncClient) -> None:
    account = await register(api, org="Globex")
    admin = bearer(account["tokens"]["access_token"])
    orgs = (await api.get("/api/v1/organizations", headers=admin)).json()["data"]["organizations"]
    assert [o["name"] for o in orgs] == ["Globex"]
    org_id = orgs[0]["id"]
    updated = await api.put(f"/api/v1/organizations/{org_id}", headers=admin,
                            json={"billing_email": "billing@globex.example", "tier": "pro"})
    assert updated.status_code == 200 and updated.json()["data"]["tier"] == "pro"
    assert_error(await api.put(f"/api/v1/organizations/{org_id}", headers=admin, json={"tier": "gold"}),
                 422, "VALIDATION_001")
    assert_error(await api.get(f"/api/v1/organizations/{uuid.uuid4()}", headers=admin), 404, "RESOURCE_NOT_FOUND")


async def test_projects_select_the_tenant_and_cannot_be_deleted_with_queues(api: httpx.AsyncClient) -> None:
    admin = bearer((await register(api))["tokens"]["access_token"])
    created = await api.post("/api/v1/projects", headers=admin, json={"name": "billing", "description": "money"})
    assert created.status_code == 201, created.text
    project_id = created.json()["data"]["id"]
    assert_error(await api.post("/api/v1/projects", headers=admin, json={"name": "Billing"}), 409, "RESOURCE_CONFLICT")
    in_project = {**admin, "X-Project-Id": project_id}
    queue = await api.post("/api/v1/queues", headers=in_project, json={"name": "invoices"})
    assert queue.status_code == 201 and queue.json()["data"]["project_id"] == project_id
    assert (await api.get("/api/v1/queues", headers=admin)).json()["data"]["queues"] == []  # the default project
    assert_error(await api.get("/api/v1/queues", headers={**admin, "X-Project-Id": str(uuid.uuid4())}),
                 404, "RESOURCE_NOT_FOUND")

    assert_error(await api.delete(f"/api/v1/projects/{project_id}", headers=admin), 409, "RESOURCE_CONFLICT")
    key = await create_key(api, in_project, project_id=project_id)
    assert (await api.delete(f"/api/v1/queues/{queue.json()['data']['id']}", headers=in_project)).status_code == 200
    assert (await api.delete(f"/api/v1/projects/{project_id}", headers=admin)).status_code == 200
    assert_error(await api.get(f"/api/v1/projects/{project_id}", headers=admin), 404, "RESOURCE_NOT_FOUND")
    assert_error(await api.get("/api/v1/queues", headers=bearer(key["key"])), 401, "AUTH_001")  # revoked with it


async def test_oauth_client_credentials_refresh_revoke_and_userinfo(api: httpx.AsyncClient) -> None:
    admin = bearer((await register(api))["tokens"]["access_token"])
    created = await api.post("/api/v1/oauth/clients", headers=admin,
                             json={"name": "etl", "scopes": ["queue:read", "job:read"]})
    assert created.status_code == 201, created.text
    client = created.json()["data"]
    form = {"grant_type": "client_credentials", "client_id": client["client_id"],
            "client_secret": client["client_secret"], "scope": "queue:read"}
    issued = await api.post("/api/v1/oauth/token", data=form)  # RFC 6749's form encoding
    assert issued.status_code == 200, issued.text
    tokens = issued.json()["data"]
    assert tokens["scope"] == "queue:read"
    access = bearer(tokens["access_token"])
    assert (await api.get("/api/v1/queues", headers=access)).status_code == 200
    assert_error(await api.get("/api/v1/jobs", headers=access), 403, "PERM_001")  # job:read not requested
    info = (await api.get("/api/v1/oauth/userinfo", headers=access)).json()["data"]
    assert info["subject_kind"] == "client" and info["sub"] == client["client_id"]

    wrong = await api.post("/api/v1/oauth/token", json={**form, "client_secret": "tfs_wrong"})
    assert_error(wrong, 401, "AUTH_001")
    greedy = await api.post("/api/v1/oauth/token", json={**form, "scope": "queue:write"})
    assert_error(greedy, 403, "PERM_001")
    refreshed = await api.post("/api/v1/oauth/token", json={"grant_type": "refresh_token",
                                                           "refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200 and refreshed.json()["data"]["refresh_token"] != tokens["refresh_token"]

    assert (await api.post("/api/v1/oauth/revoke", headers=admin, json={"token": tokens["access_token"]})).status_code == 200
    assert_error(await api.get("/api/v1/queues", headers=access), 401, "AUTH_001")
    assert (await api.delete(f"/api/v1/oauth/clients/{client['client_id']}", headers=admin)).status_code == 200
    assert_error(await api.post("/api/v1/oauth/token", data=form), 401, "AUTH_001")
    new_access = bearer(refreshed.json()["data"]["access_token"])
    assert_error(await api.get("/api/v1/queues", headers=new_access), 401, "AUTH_001")  # the client's sessions end


async def test_bad_identity_input_gets_precise_4xx(api: httpx.AsyncClient) -> None:
    assert_error(await api.post("/api/v1/auth/login", json={"email": "not-an-email", "password": "x"}),
                 422, "VALIDATION_001")
    assert_error(await api.post("/api/v1/auth/refresh", json={"refresh_token": "tfr_nonsense"}), 401, "AUTH_001")
    assert_error(await api.post("/api/v1/oauth/token", data={"grant_type": "password"}), 422, "VALIDATION_001")
    assert_error(await api.post("/api/v1/oauth/token", content=b"grant_type=x", headers={"Content-Type": "text/plain"}),
                 415, "UNSUPPORTED_MEDIA_TYPE")
    assert_error(await api.get("/api/v1/users/me", headers=AUTH), 403, "PERM_001")  # an API key has no account
    assert_error(await api.get("/api/v1/queues", headers={"Authorization": "Basic abc"}), 401, "AUTH_001")
    assert_error(await api.get("/api/v1/queues"), 401, "AUTH_001")


async def test_no_secret_reaches_the_log_in_the_clear(api: httpx.AsyncClient, settings: Settings) -> None:
    account = await register(api)
    admin = bearer(account["tokens"]["access_token"])
    key = await create_key(api, admin)
    client = (await api.post("/api/v1/oauth/clients", headers=admin,
                             json={"name": "c", "scopes": ["job:read"]})).json()["data"]
    secrets = [PASSWORD, key["key"], client["client_secret"], account["tokens"]["refresh_token"]]
    topic = Topics.from_settings(settings).identity_events
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=settings.bootstrap_servers, group_id=None,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    try:
        batch = await consumer.getmany(timeout_ms=3000, max_records=100_000)
        raw = b"".join(m.value for messages in batch.values() for m in messages)
    finally:
        await consumer.stop()
    assert account["user"]["id"].encode() in raw and b"$argon2id$" in raw
    for secret in secrets:
        assert secret.encode() not in raw


async def test_a_keys_last_use_is_recorded_in_batches(api: httpx.AsyncClient) -> None:
    admin = bearer((await register(api))["tokens"]["access_token"])
    key = await create_key(api, admin)
    listed = (await api.get("/api/v1/api-keys", headers=admin)).json()["data"]["api_keys"]
    assert listed[0]["last_used_at"] is None
    assert (await api.get("/api/v1/queues", headers=bearer(key["key"]))).status_code == 200
    await api.app.state.context.flush_key_use()  # type: ignore[attr-defined]  # what the minute timer does

    async def recorded() -> bool:
        keys = (await api.get("/api/v1/api-keys", headers=admin)).json()["data"]["api_keys"]
        return keys[0]["last_used_at"] is not None

    await eventually(recorded, timeout=5.0)
