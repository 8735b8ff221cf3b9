"""The identity registry, pure: organizations, users, projects, API keys, OAuth2 clients, sessions.

One registry for the whole platform, one owner for it: that is what makes an email unique
across organizations, a project name unique within its organization, and a refresh token
spendable exactly once even when two refreshes race.

``decide(registry, command, now, command_id)`` returns the events or a refusal and never
changes the registry; ``evolve(registry, event)`` applies one event. The registry is the
same object the API follows in memory for every request's key and token lookups, so
``evolve`` updates it in place (copying a platform-wide registry per event would cost
O(entities)); ``decide`` only reads it. Neither reads a clock or does I/O: ``now`` and
every id and hash come in the command, made at the edge.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime

from schemas.identity import (
    ROLE_SCOPES, SCOPES, AccessTokenRevoked, ApiKeyRecord, ApiKeySaved, CreateApiKey, CreateOAuthClient,
    CreateProject, CreateUser, DeleteProject, DeleteUser, EnsureBootstrap, IdentityEvent, OAuthClientRecord,
    OAuthClientSaved, OrganizationRecord, OrganizationSaved, ProjectDeleted, ProjectRecord, ProjectSaved,
    RegisterOrganization, RevokeAccessToken, RevokeApiKey, RevokeOAuthClient, RevokeSession, RotateSession,
    SessionRecord, SessionSaved, StartSession, TouchApiKeys, UpdateOrganization, UpdateProject, UpdateUser,
    UserDeleted, UserRecord, UserSaved,
)
from taskforge.errors import Conflict, CredentialsExpired, NotFound, TaskForgeError, Unauthenticated

MAX_PROJECTS_PER_ORGANIZATION = 1_000
MAX_LIVE_KEYS_PER_PROJECT = 1_000
SPENT_TOKENS_KEPT = 64
"""Spent refresh tokens a session remembers: presenting one of them again is a theft signal."""
APPLIED_COMMANDS_KEPT = 10_000
DEFAULT_PROJECT_NAME = "default"


@dataclass
class Registry:
    """Every identity entity, with the indexes that lookups and uniqueness rules need."""

    organizations: dict[uuid.UUID, OrganizationRecord] = field(default_factory=dict)
    users: dict[uuid.UUID, UserRecord] = field(default_factory=dict)
    user_by_email: dict[str, uuid.UUID] = field(default_factory=dict)
    projects: dict[uuid.UUID, ProjectRecord] = field(default_factory=dict)
    project_by_name: dict[tuple[uuid.UUID, str], uuid.UUID] = field(default_factory=dict)
    api_keys: dict[uuid.UUID, ApiKeyRecord] = field(default_factory=dict)
    key_by_hash: dict[str, uuid.UUID] = field(default_factory=dict)
    clients: dict[uuid.UUID, OAuthClientRecord] = field(default_factory=dict)
    sessions: dict[uuid.UUID, SessionRecord] = field(default_factory=dict)
    revoked_access: dict[uuid.UUID, datetime] = field(default_factory=dict)
    applied: OrderedDict[uuid.UUID, None] = field(default_factory=OrderedDict)
    """Commands whose events are in the log, so that a redelivery is answered without deciding again."""

    def user_in(self, organization_id: uuid.UUID, user_id: uuid.UUID) -> UserRecord | None:
        user = self.users.get(user_id)
        return user if user is not None and user.organization_id == organization_id else None

    def project_in(self, organization_id: uuid.UUID, project_id: uuid.UUID) -> ProjectRecord | None:
        project = self.projects.get(project_id)
        return project if project is not None and project.organization_id == organization_id else None

    def key_in(self, organization_id: uuid.UUID, key_id: uuid.UUID) -> ApiKeyRecord | None:
        key = self.api_keys.get(key_id)
        return key if key is not None and key.organization_id == organization_id else None

    def client_in(self, organization_id: uuid.UUID, client_id: uuid.UUID) -> OAuthClientRecord | None:
        client = self.clients.get(client_id)
        return client if client is not None and client.organization_id == organization_id else None

    def session_in(self, organization_id: uuid.UUID, session_id: uuid.UUID) -> SessionRecord | None:
        session = self.sessions.get(session_id)
        return session if session is not None and session.organization_id == organization_id else None

    def admins_of(self, organization_id: uuid.UUID) -> list[UserRecord]:
        return [u for u in self.users.values() if u.organization_id == organization_id and u.role == "admin"]

    def projects_of(self, organization_id: uuid.UUID) -> list[ProjectRecord]:
        return sorted((p for p in self.projects.values() if p.organization_id == organization_id),
                      key=lambda p: (p.created_at, p.name))

    def live_keys_of(self, project_id: uuid.UUID) -> list[ApiKeyRecord]:
        return [k for k in self.api_keys.values() if k.project_id == project_id and k.revoked_at is None]

    def live_clients_of(self, project_id: uuid.UUID) -> list[OAuthClientRecord]:
        return [c for c in self.clients.values() if c.project_id == project_id and c.revoked_at is None]


@dataclass(frozen=True)
class IdentityDecision:
    events: list[IdentityEvent] = field(default_factory=list)
    refusal: TaskForgeError | None = None
    repeated: bool = False
    """The command was applied before (a redelivery): nothing new, the first answer again."""


def _refuse(error: TaskForgeError, events: list[IdentityEvent] | None = None) -> IdentityDecision:
    return IdentityDecision(events=events or [], refusal=error)


def _email_taken(registry: Registry, email: str, by: uuid.UUID | None = None) -> bool:
    owner = registry.user_by_email.get(email)
    return owner is not None and owner != by


def _name_taken(registry: Registry, organization_id: uuid.UUID, name: str, by: uuid.UUID | None = None) -> bool:
    owner = registry.project_by_name.get((organization_id, name.casefold()))
    return owner is not None and owner != by


def _organization_not_found(organization_id: uuid.UUID) -> NotFound:
    return NotFound(f"organization {organization_id} not found")


def decide(registry: Registry, command: object, now: datetime, command_id: uuid.UUID) -> IdentityDecision:
    if command_id in registry.applied:
        return IdentityDecision(repeated=True)
    match command:
        case RegisterOrganization():
            return _register(registry, command, now)
        case EnsureBootstrap():
            return _bootstrap(registry, command, now)
    org = registry.organizations.get(command.organization_id)  # type: ignore[attr-defined]
    if org is None:
        return _refuse(_organization_not_found(command.organization_id))  # type: ignore[attr-defined]
    match command:
        case CreateUser() | UpdateUser() | DeleteUser():
            return _users(registry, command, now)
        case UpdateOrganization():
            changes = {k: v for k, v in command.model_dump(exclude={"kind", "organization_id"}).items() if v is not None}
            return IdentityDecision([OrganizationSaved(organization=org.model_copy(update={**changes, "updated_at": now}))])
        case CreateProject() | UpdateProject() | DeleteProject():
            return _projects(registry, org, command, now)
        case CreateApiKey() | RevokeApiKey() | TouchApiKeys():
            return _api_keys(registry, command, now)
        case CreateOAuthClient() | RevokeOAuthClient():
            return _clients(registry, command, now)
        case StartSession() | RotateSession() | RevokeSession() | RevokeAccessToken():
            return _sessions(registry, command, now)
    raise TypeError(f"not an identity command: {type(command).__name__}")


def _register(registry: Registry, c: RegisterOrganization, now: datetime) -> IdentityDecision:
    if _email_taken(registry, c.email):
        return _refuse(Conflict("an account with this email already exists"))
    if c.organization_id in registry.organizations or c.user_id in registry.users or c.project_id in registry.projects:
        return _refuse(Conflict("ids already in use"))
    return IdentityDecision([
        OrganizationSaved(organization=OrganizationRecord(
            id=c.organization_id, name=c.organization_name, billing_email=c.email, default_project_id=c.project_id,
            created_at=now, updated_at=now)),
        ProjectSaved(project=ProjectRecord(id=c.project_id, organization_id=c.organization_id,
                                           name=DEFAULT_PROJECT_NAME, created_at=now, updated_at=now)),
        UserSaved(user=UserRecord(id=c.user_id, organization_id=c.organization_id, email=c.email, name=c.name,
                                  role="admin", password_hash=c.password_hash, created_at=now, updated_at=now)),
    ])


def _bootstrap(registry: Registry, c: EnsureBootstrap, now: datetime) -> IdentityDecision:
    events: list[IdentityEvent] = []
    if c.organization_id not in registry.organizations:
        events.append(OrganizationSaved(organization=OrganizationRecord(
            id=c.organization_id, name="Bootstrap", default_project_id=c.project_id, created_at=now, updated_at=now)))
    if c.project_id not in registry.projects:
        events.append(ProjectSaved(project=ProjectRecord(id=c.project_id, organization_id=c.organization_id,
                                                         name=DEFAULT_PROJECT_NAME, created_at=now, updated_at=now)))
    existing = registry.key_by_hash.get(c.key_hash)
    if existing is None or registry.api_keys[existing].revoked_at is not None:
        events.append(ApiKeySaved(api_key=ApiKeyRecord(
            id=c.key_id, organization_id=c.organization_id, project_id=c.project_id, name="bootstrap",
            prefix=c.key_prefix, key_hash=c.key_hash, permissions=SCOPES, created_by="taskforge:bootstrap",
            created_at=now)))  # type: ignore[arg-type]
    return IdentityDecision(events)


def _users(registry: Registry, c: CreateUser | UpdateUser | DeleteUser, now: datetime) -> IdentityDecision:
    if isinstance(c, CreateUser):
        if _email_taken(registry, c.email):
            return _refuse(Conflict("an account with this email already exists"))
        if c.user_id in registry.users:
            return _refuse(Conflict(f"user {c.user_id} already exists"))
        return IdentityDecision([UserSaved(user=UserRecord(
            id=c.user_id, organization_id=c.organization_id, email=c.email, name=c.name, role=c.role,
            password_hash=c.password_hash, created_at=now, updated_at=now))])
    user = registry.user_in(c.organization_id, c.user_id)
    if user is None:
        return _refuse(NotFound(f"user {c.user_id} not found"))
    if isinstance(c, UpdateUser):
        if c.email is not None and _email_taken(registry, c.email, by=user.id):
            return _refuse(Conflict("an account with this email already exists"))
        changes = {k: v for k, v in c.model_dump(include={"email", "name", "password_hash"}).items() if v is not None}
        return IdentityDecision([UserSaved(user=user.model_copy(update={**changes, "updated_at": now}))])
    if user.role == "admin" and len(registry.admins_of(c.organization_id)) == 1:
        return _refuse(Conflict("the last admin of an organization cannot be deleted"))
    revoked = [SessionSaved(session=s.model_copy(update={"revoked_at": now, "revoked_reason": "user deleted"}))
               for s in registry.sessions.values()
               if s.subject_kind == "user" and s.subject_id == user.id and s.revoked_at is None]
    return IdentityDecision([UserDeleted(user_id=user.id), *revoked])


def _projects(registry: Registry, org: OrganizationRecord, c: CreateProject | UpdateProject | DeleteProject,
              now: datetime) -> IdentityDecision:
    if isinstance(c, CreateProject):
        if c.project_id in registry.projects:
            return _refuse(Conflict(f"project {c.project_id} already exists"))
        if _name_taken(registry, org.id, c.name):
            return _refuse(Conflict(f"a project named {c.name!r} already exists in this organization"))
        if len(registry.projects_of(org.id)) >= MAX_PROJECTS_PER_ORGANIZATION:
            return _refuse(Conflict(f"an organization has at most {MAX_PROJECTS_PER_ORGANIZATION} projects"))
        return IdentityDecision([ProjectSaved(project=ProjectRecord(
            id=c.project_id, organization_id=org.id, name=c.name, description=c.description, created_at=now,
            updated_at=now))])
    project = registry.project_in(org.id, c.project_id)
    if project is None:
        return _refuse(NotFound(f"project {c.project_id} not found"))
    if isinstance(c, UpdateProject):
        if c.name is not None and _name_taken(registry, org.id, c.name, by=project.id):
            return _refuse(Conflict(f"a project named {c.name!r} already exists in this organization"))
        changes = {k: v for k, v in c.model_dump(include={"name", "description"}).items() if v is not None}
        return IdentityDecision([ProjectSaved(project=project.model_copy(update={**changes, "updated_at": now}))])
    if project.id == org.default_project_id:
        return _refuse(Conflict("an organization's default project cannot be deleted"))
    if c.live_queues:
        return _refuse(Conflict(f"project {project.id} still has {c.live_queues} queue(s); delete them first",
                                details={"queues": c.live_queues}))
    keys = [ApiKeySaved(api_key=k.model_copy(update={"revoked_at": now})) for k in registry.live_keys_of(project.id)]
    clients = [OAuthClientSaved(client=cl.model_copy(update={"revoked_at": now}))
               for cl in registry.live_clients_of(project.id)]
    return IdentityDecision([ProjectDeleted(project_id=project.id), *keys, *clients])


def _api_keys(registry: Registry, c: CreateApiKey | RevokeApiKey | TouchApiKeys, now: datetime) -> IdentityDecision:
    if isinstance(c, CreateApiKey):
        if registry.project_in(c.organization_id, c.project_id) is None:
            return _refuse(NotFound(f"project {c.project_id} not found"))
        if c.key_id in registry.api_keys or c.key_hash in registry.key_by_hash:
            return _refuse(Conflict("key already exists"))
        if len(registry.live_keys_of(c.project_id)) >= MAX_LIVE_KEYS_PER_PROJECT:
            return _refuse(Conflict(f"a project has at most {MAX_LIVE_KEYS_PER_PROJECT} live API keys"))
        if c.expires_at is not None and c.expires_at <= now:
            return _refuse(Conflict("expires_at is in the past"))
        return IdentityDecision([ApiKeySaved(api_key=ApiKeyRecord(
            id=c.key_id, organization_id=c.organization_id, project_id=c.project_id, name=c.name, prefix=c.prefix,
            key_hash=c.key_hash, permissions=c.permissions, rate_limits=c.rate_limits, expires_at=c.expires_at,
            created_by=c.created_by, created_at=now))])
    if isinstance(c, RevokeApiKey):
        key = registry.key_in(c.organization_id, c.key_id)
        if key is None:
            return _refuse(NotFound(f"API key {c.key_id} not found"))
        if key.revoked_at is not None:
            return IdentityDecision()  # revoking twice is harmless
        return IdentityDecision([ApiKeySaved(api_key=key.model_copy(update={"revoked_at": now}))])
    events: list[IdentityEvent] = []
    for key_id, used_at in c.last_used.items():
        key = registry.key_in(c.organization_id, key_id)
        if key is not None and key.revoked_at is None and (key.last_used_at is None or used_at > key.last_used_at):
            events.append(ApiKeySaved(api_key=key.model_copy(update={"last_used_at": used_at})))
    return IdentityDecision(events)


def _clients(registry: Registry, c: CreateOAuthClient | RevokeOAuthClient, now: datetime) -> IdentityDecision:
    if isinstance(c, CreateOAuthClient):
        if registry.project_in(c.organization_id, c.project_id) is None:
            return _refuse(NotFound(f"project {c.project_id} not found"))
        if c.client_id in registry.clients:
            return _refuse(Conflict("client already exists"))
        return IdentityDecision([OAuthClientSaved(client=OAuthClientRecord(
            id=c.client_id, organization_id=c.organization_id, project_id=c.project_id, name=c.name,
            secret_prefix=c.secret_prefix, secret_hash=c.secret_hash, scopes=c.scopes, created_by=c.created_by,
            created_at=now))])
    client = registry.client_in(c.organization_id, c.client_id)
    if client is None:
        return _refuse(NotFound(f"OAuth client {c.client_id} not found"))
    if client.revoked_at is not None:
        return IdentityDecision()
    sessions = [SessionSaved(session=s.model_copy(update={"revoked_at": now, "revoked_reason": "client revoked"}))
                for s in registry.sessions.values()
                if s.subject_kind == "client" and s.subject_id == client.id and s.revoked_at is None]
    return IdentityDecision([OAuthClientSaved(client=client.model_copy(update={"revoked_at": now})), *sessions])


def subject_is_live(registry: Registry, kind: str, organization_id: uuid.UUID, subject_id: uuid.UUID) -> bool:
    """A session's subject still exists: a deleted user or a revoked client ends its sessions."""
    if kind == "user":
        return registry.user_in(organization_id, subject_id) is not None
    if kind == "client":
        client = registry.client_in(organization_id, subject_id)
        return client is not None and client.revoked_at is None
    return False


def scopes_now(registry: Registry, kind: str, subject_id: uuid.UUID, granted: frozenset[str]) -> frozenset[str]:
    """What a token may do today: what it was granted, cut to its user's current role or its client's
    current scopes, so that a demotion takes effect on the next request, not at the token's expiry."""
    if kind == "user":
        user = registry.users.get(subject_id)
        return granted & ROLE_SCOPES[user.role] if user is not None else frozenset()
    if kind == "client":
        client = registry.clients.get(subject_id)
        return granted & frozenset(client.scopes) if client is not None else frozenset()
    return frozenset()


def _sessions(registry: Registry, c: StartSession | RotateSession | RevokeSession | RevokeAccessToken,
              now: datetime) -> IdentityDecision:
    if isinstance(c, RevokeAccessToken):
        return IdentityDecision([AccessTokenRevoked(jti=c.jti, organization_id=c.organization_id,
                                                    expires_at=c.expires_at)])
    if isinstance(c, StartSession):
        if not subject_is_live(registry, c.subject_kind, c.organization_id, c.subject_id):
            return _refuse(Unauthenticated("the credentials are no longer valid"))
        if c.session_id in registry.sessions:
            return _refuse(Conflict("session already exists"))
        return IdentityDecision([SessionSaved(session=SessionRecord(
            id=c.session_id, organization_id=c.organization_id, subject_kind=c.subject_kind, subject_id=c.subject_id,
            scopes=c.scopes, current_hash=c.token_hash, expires_at=c.expires_at, created_at=now, rotated_at=now))])
    if isinstance(c, RevokeSession):
        session = registry.session_in(c.organization_id, c.session_id) if c.session_id is not None else None
        events: list[IdentityEvent] = []
        if session is not None and session.revoked_at is None:
            events.append(SessionSaved(session=session.model_copy(update={"revoked_at": now,
                                                                          "revoked_reason": c.reason})))
        if c.access_jti is not None and c.access_expires_at is not None:
            events.append(AccessTokenRevoked(jti=c.access_jti, organization_id=c.organization_id,
                                             expires_at=c.access_expires_at))
        return IdentityDecision(events)
    session = registry.session_in(c.organization_id, c.session_id)
    if session is None or session.revoked_at is not None:
        return _refuse(Unauthenticated("invalid refresh token"))
    if now >= session.expires_at:
        return _refuse(CredentialsExpired("the refresh token has expired; log in again"))
    if not subject_is_live(registry, session.subject_kind, session.organization_id, session.subject_id):
        return _refuse(Unauthenticated("invalid refresh token"))
    if c.presented_hash == session.current_hash:
        spent = (*session.spent_hashes[-(SPENT_TOKENS_KEPT - 1):], session.current_hash)
        return IdentityDecision([SessionSaved(session=session.model_copy(update={
            "current_hash": c.new_hash, "spent_hashes": spent, "rotated_at": now}))])
    if c.presented_hash in session.spent_hashes:  # a spent token again: stolen or replayed; end the family
        revoked = session.model_copy(update={"revoked_at": now, "revoked_reason": "refresh token reused"})
        return _refuse(Unauthenticated("this refresh token was already used; the session is revoked, log in again"),
                       [SessionSaved(session=revoked)])
    return _refuse(Unauthenticated("invalid refresh token"))


def evolve(registry: Registry, event: IdentityEvent, causation_id: uuid.UUID | None = None) -> Registry:
    """Apply one event (in place, see the module's docstring) and remember the command that caused it."""
    match event:
        case OrganizationSaved(organization=org):
            registry.organizations[org.id] = org
        case UserSaved(user=user):
            previous = registry.users.get(user.id)
            if previous is not None and registry.user_by_email.get(previous.email) == user.id:
                del registry.user_by_email[previous.email]
            registry.users[user.id] = user
            registry.user_by_email[user.email] = user.id
        case UserDeleted(user_id=user_id):
            gone = registry.users.pop(user_id, None)
            if gone is not None and registry.user_by_email.get(gone.email) == user_id:
                del registry.user_by_email[gone.email]
        case ProjectSaved(project=project):
            previous_project = registry.projects.get(project.id)
            if previous_project is not None:
                registry.project_by_name.pop((previous_project.organization_id, previous_project.name.casefold()), None)
            registry.projects[project.id] = project
            registry.project_by_name[(project.organization_id, project.name.casefold())] = project.id
        case ProjectDeleted(project_id=project_id):
            gone_project = registry.projects.pop(project_id, None)
            if gone_project is not None:
                registry.project_by_name.pop((gone_project.organization_id, gone_project.name.casefold()), None)
        case ApiKeySaved(api_key=key):
            registry.api_keys[key.id] = key
            registry.key_by_hash[key.key_hash] = key.id
        case OAuthClientSaved(client=client):
            registry.clients[client.id] = client
        case SessionSaved(session=session):
            registry.sessions[session.id] = session
        case AccessTokenRevoked(jti=jti, expires_at=expires_at):
            registry.revoked_access[jti] = expires_at
    if causation_id is not None:
        registry.applied[causation_id] = None
        registry.applied.move_to_end(causation_id)
        while len(registry.applied) > APPLIED_COMMANDS_KEPT:
            registry.applied.popitem(last=False)
    return registry


def forget_expired(registry: Registry, now: datetime) -> None:
    """Drop revoked access tokens past their expiry: a signature check refuses them anyway."""
    for jti in [j for j, expires in registry.revoked_access.items() if expires <= now]:
        del registry.revoked_access[jti]

