"""The identity registry's rules, pure: no broker, no clock, no API."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from schemas.identity import (
    CreateApiKey, CreateProject, CreateUser, DeleteProject, DeleteUser, EnsureBootstrap, RevokeAccessToken,
    RegisterOrganization, RotateSession, SessionSaved, StartSession, TouchApiKeys,
)
from streams.deciders.identity import IdentityDecision, Registry, decide, evolve, forget_expired, scopes_now
from taskforge.errors import Conflict, CredentialsExpired, NotFound, Unauthenticated

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def apply(registry: Registry, command: object, now: datetime = NOW) -> IdentityDecision:
    command_id = uuid.uuid4()
    decision = decide(registry, command, now, command_id)
    for event in decision.events:
        evolve(registry, event, command_id)
    return decision


def registered(registry: Registry, email: str = "ada@example.com") -> RegisterOrganization:
    command = RegisterOrganization(organization_id=uuid.uuid4(), organization_name="Acme", user_id=uuid.uuid4(),
                                   email=email, password_hash="$argon2id$x", project_id=uuid.uuid4())
    assert apply(registry, command).refusal is None
    return command


def test_an_email_belongs_to_one_account_across_organizations() -> None:
    registry = Registry()
    first = registered(registry)
    again = apply(registry, RegisterOrganization(
        organization_id=uuid.uuid4(), organization_name="Other", user_id=uuid.uuid4(), email="ADA@example.com",
        password_hash="h", project_id=uuid.uuid4()))
    assert isinstance(again.refusal, Conflict) and not again.events
    other_org = registered(registry, "bob@example.com")
    taken = apply(registry, CreateUser(organization_id=other_org.organization_id, user_id=uuid.uuid4(),
                                       email="ada@example.com", role="member", password_hash="h"))
    assert isinstance(taken.refusal, Conflict)
    assert registry.user_by_email["ada@example.com"] == first.user_id


def test_registration_makes_an_admin_and_a_default_project_that_cannot_be_deleted() -> None:
    registry = Registry()
    c = registered(registry)
    assert registry.users[c.user_id].role == "admin"
    assert registry.organizations[c.organization_id].default_project_id == c.project_id
    refused = apply(registry, DeleteProject(organization_id=c.organization_id, project_id=c.project_id, live_queues=0))
    assert isinstance(refused.refusal, Conflict)
    last_admin = apply(registry, DeleteUser(organization_id=c.organization_id, user_id=c.user_id))
    assert isinstance(last_admin.refusal, Conflict)


def test_project_names_are_unique_per_organization_ignoring_case() -> None:
    registry = Registry()
    a, b = registered(registry), registered(registry, "b@example.com")
    assert apply(registry, CreateProject(organization_id=a.organization_id, project_id=uuid.uuid4(),
                                         name="Billing")).refusal is None
    dup = apply(registry, CreateProject(organization_id=a.organization_id, project_id=uuid.uuid4(), name="billing"))
    assert isinstance(dup.refusal, Conflict)
    assert apply(registry, CreateProject(organization_id=b.organization_id, project_id=uuid.uuid4(),
                                         name="billing")).refusal is None


def key_command(org: uuid.UUID, project: uuid.UUID, **overrides: object) -> CreateApiKey:
    values = dict(organization_id=org, key_id=uuid.uuid4(), project_id=project, name="k", prefix="tf_abcdefgh",
                  key_hash=uuid.uuid4().hex, permissions=("job:read",), created_by="user:x")
    values.update(overrides)
    return CreateApiKey(**values)  # type: ignore[arg-type]


def test_a_project_with_queues_stays_and_a_deleted_one_takes_its_keys_along() -> None:
    registry = Registry()
    c = registered(registry)
    project = uuid.uuid4()
    apply(registry, CreateProject(organization_id=c.organization_id, project_id=project, name="p"))
    key = key_command(c.organization_id, project)
    apply(registry, key)
    busy = apply(registry, DeleteProject(organization_id=c.organization_id, project_id=project, live_queues=2))
    assert isinstance(busy.refusal, Conflict) and busy.refusal.details == {"queues": 2}
    done = apply(registry, DeleteProject(organization_id=c.organization_id, project_id=project, live_queues=0))
    assert done.refusal is None and project not in registry.projects
    assert registry.api_keys[key.key_id].revoked_at == NOW


def test_keys_need_a_project_of_their_organization_and_a_future_expiry() -> None:
    registry = Registry()
    a, b = registered(registry), registered(registry, "b@example.com")
    foreign = apply(registry, key_command(a.organization_id, b.project_id))
    assert isinstance(foreign.refusal, NotFound)
    past = apply(registry, key_command(a.organization_id, a.project_id, expires_at=NOW - timedelta(seconds=1)))
    assert isinstance(past.refusal, Conflict)


def test_last_use_only_moves_forward() -> None:
    registry = Registry()
    c = registered(registry)
    key = key_command(c.organization_id, c.project_id)
    apply(registry, key)
    later, earlier = NOW + timedelta(minutes=5), NOW + timedelta(minutes=1)
    apply(registry, TouchApiKeys(organization_id=c.organization_id, last_used={key.key_id: later}))
    stale = apply(registry, TouchApiKeys(organization_id=c.organization_id, last_used={key.key_id: earlier}))
    assert stale.events == [] and registry.api_keys[key.key_id].last_used_at == later


def session_of(registry: Registry, c: RegisterOrganization, token: str = "h0") -> uuid.UUID:
    session_id = uuid.uuid4()
    assert apply(registry, StartSession(
        organization_id=c.organization_id, session_id=session_id, subject_kind="user", subject_id=c.user_id,
        scopes=("job:read",), token_hash=token, expires_at=NOW + timedelta(days=1))).refusal is None
    return session_id


def test_a_refresh_token_is_spent_once_and_reusing_one_revokes_the_family() -> None:
    registry = Registry()
    c = registered(registry)
    sid = session_of(registry, c)
    assert apply(registry, RotateSession(organization_id=c.organization_id, session_id=sid, presented_hash="h0",
                                         new_hash="h1")).refusal is None
    reuse = apply(registry, RotateSession(organization_id=c.organization_id, session_id=sid, presented_hash="h0",
                                          new_hash="h2"))
    assert isinstance(reuse.refusal, Unauthenticated)
    assert isinstance(reuse.events[0], SessionSaved) and registry.sessions[sid].revoked_at == NOW
    after = apply(registry, RotateSession(organization_id=c.organization_id, session_id=sid, presented_hash="h1",
                                          new_hash="h3"))
    assert isinstance(after.refusal, Unauthenticated) and after.events == []


def test_an_expired_session_says_expired_and_a_deleted_user_ends_its_sessions() -> None:
    registry = Registry()
    c = registered(registry)
    sid = session_of(registry, c)
    late = apply(registry, RotateSession(organization_id=c.organization_id, session_id=sid, presented_hash="h0",
                                         new_hash="h1"), now=NOW + timedelta(days=2))
    assert isinstance(late.refusal, CredentialsExpired)
    member = CreateUser(organization_id=c.organization_id, user_id=uuid.uuid4(), email="m@example.com",
                        role="member", password_hash="h")
    apply(registry, member)
    msid = uuid.uuid4()
    apply(registry, StartSession(organization_id=c.organization_id, session_id=msid, subject_kind="user",
                                 subject_id=member.user_id, scopes=(), token_hash="m0",
                                 expires_at=NOW + timedelta(days=1)))
    apply(registry, DeleteUser(organization_id=c.organization_id, user_id=member.user_id))
    assert registry.sessions[msid].revoked_at == NOW and "m@example.com" not in registry.user_by_email


def test_a_redelivered_command_is_answered_without_new_events() -> None:
    registry = Registry()
    command = RegisterOrganization(organization_id=uuid.uuid4(), organization_name="Acme", user_id=uuid.uuid4(),
                                   email="ada@example.com", password_hash="h", project_id=uuid.uuid4())
    command_id = uuid.uuid4()
    first = decide(registry, command, NOW, command_id)
    for event in first.events:
        evolve(registry, event, command_id)
    again = decide(registry, command, NOW, command_id)
    assert again.repeated and again.events == [] and again.refusal is None


def test_bootstrap_is_idempotent_and_replaying_the_events_rebuilds_the_registry() -> None:
    registry = Registry()
    bootstrap = EnsureBootstrap(organization_id=uuid.uuid4(), project_id=uuid.uuid4(), key_id=uuid.uuid4(),
                                key_prefix="tf_aaaaaaaa", key_hash="digest")
    log = list(apply(registry, bootstrap).events)
    assert [type(e).__name__ for e in log] == ["OrganizationSaved", "ProjectSaved", "ApiKeySaved"]
    assert apply(registry, bootstrap).events == []
    c = RegisterOrganization(organization_id=uuid.uuid4(), organization_name="Acme", user_id=uuid.uuid4(),
                             email="ada@example.com", password_hash="h", project_id=uuid.uuid4())
    for command in (c, key_command(c.organization_id, c.project_id),
                    CreateProject(organization_id=c.organization_id, project_id=uuid.uuid4(), name="p")):
        log += apply(registry, command).events
    rebuilt = Registry()
    for event in log:
        evolve(rebuilt, event)
    for table in ("organizations", "users", "user_by_email", "projects", "project_by_name", "api_keys", "key_by_hash"):
        assert getattr(rebuilt, table) == getattr(registry, table), table


def test_commands_of_an_unknown_organization_are_not_found() -> None:
    refused = apply(Registry(), CreateProject(organization_id=uuid.uuid4(), project_id=uuid.uuid4(), name="p"))
    assert isinstance(refused.refusal, NotFound)


def test_revoked_access_tokens_are_forgotten_once_expired() -> None:
    registry = Registry()
    c = registered(registry)
    soon, later = uuid.uuid4(), uuid.uuid4()
    apply(registry, RevokeAccessToken(organization_id=c.organization_id, jti=soon, expires_at=NOW + timedelta(minutes=1)))
    apply(registry, RevokeAccessToken(organization_id=c.organization_id, jti=later, expires_at=NOW + timedelta(hours=1)))
    forget_expired(registry, NOW + timedelta(minutes=5))
    assert set(registry.revoked_access) == {later}


def test_a_tokens_reach_follows_its_users_current_role() -> None:
    registry = Registry()
    c = registered(registry)
    granted = frozenset({"job:read", "org:admin"})
    assert scopes_now(registry, "user", c.user_id, granted) == granted
    member = CreateUser(organization_id=c.organization_id, user_id=uuid.uuid4(), email="m@example.com",
                        role="member", password_hash="h")
    apply(registry, member)
    assert scopes_now(registry, "user", member.user_id, granted) == {"job:read"}
    assert scopes_now(registry, "user", uuid.uuid4(), granted) == frozenset()  # a deleted user can do nothing
