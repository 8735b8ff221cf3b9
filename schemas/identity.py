"""Identity: organizations, users, projects, API keys, OAuth2 clients and sessions.

Every identity entity is event-sourced on the compacted topic ``<prefix>.identity-events``,
keyed by the entity's id; each event carries the entity's whole state, so compaction may
keep only the newest record of a key. Secrets never travel in the clear: passwords as
argon2id hashes, API keys, client secrets and refresh tokens as SHA-256 digests (they are
random, high-entropy strings, so a fast hash is the right one: see docs/identity.md).

Commands go to ``<prefix>.identity-commands``, a topic of one partition: one owner decides
every identity change, which is what makes emails unique across the platform, project
names unique within an organization, and a refresh token spendable once.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from schemas.envelope import DomainEvent, register_event

NO_PROJECT = uuid.UUID(int=0)
"""The envelope's project id for organization-level entities (users, organizations, sessions)."""

Role = Literal["admin", "member"]
Tier = Literal["free", "pro", "enterprise"]
SubjectKind = Literal["user", "api_key", "client"]

SCOPES: tuple[str, ...] = (
    "job:read", "job:write", "queue:read", "queue:write", "worker:read", "worker:write",
    "project:read", "project:admin", "org:admin",
)
"""Every permission a credential can carry (seed 001 §3, seed 002)."""
Scope = Literal[
    "job:read", "job:write", "queue:read", "queue:write", "worker:read", "worker:write",
    "project:read", "project:admin", "org:admin",
]
ROLE_SCOPES: dict[str, frozenset[str]] = {
    "admin": frozenset(SCOPES),
    "member": frozenset(SCOPES) - {"project:admin", "org:admin"},
}

Email = Annotated[str, StringConstraints(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
                                         strip_whitespace=True, to_lower=True)]
EntityName = Annotated[str, StringConstraints(min_length=1, max_length=100, strip_whitespace=True)]
Description = Annotated[str, StringConstraints(max_length=500)]


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class OrganizationRecord(_Record):
    id: uuid.UUID
    name: EntityName
    billing_email: Email | None = None
    tier: Tier = "free"
    default_project_id: uuid.UUID
    created_at: AwareDatetime
    updated_at: AwareDatetime


class UserRecord(_Record):
    id: uuid.UUID
    organization_id: uuid.UUID
    email: Email
    name: EntityName | None = None
    role: Role
    password_hash: str
    created_at: AwareDatetime
    updated_at: AwareDatetime


class ProjectRecord(_Record):
    id: uuid.UUID
    organization_id: uuid.UUID
    name: EntityName
    description: Description | None = None
    created_at: AwareDatetime
    updated_at: AwareDatetime


class RateBudget(_Record):
    """Per-credential overrides of the hourly request budgets; ``None`` keeps the configured default."""

    read_per_hour: int | None = Field(default=None, ge=1, le=100_000_000)
    write_per_hour: int | None = Field(default=None, ge=1, le=100_000_000)
    worker_per_hour: int | None = Field(default=None, ge=1, le=100_000_000)


class ApiKeyRecord(_Record):
    id: uuid.UUID
    organization_id: uuid.UUID
    project_id: uuid.UUID
    name: EntityName
    prefix: str
    key_hash: str
    permissions: tuple[Scope, ...]
    rate_limits: RateBudget = RateBudget()
    expires_at: AwareDatetime | None = None
    created_by: str
    created_at: AwareDatetime
    revoked_at: AwareDatetime | None = None
    last_used_at: AwareDatetime | None = None


class OAuthClientRecord(_Record):
    id: uuid.UUID
    organization_id: uuid.UUID
    project_id: uuid.UUID
    name: EntityName
    secret_prefix: str
    secret_hash: str
    scopes: tuple[Scope, ...]
    created_by: str
    created_at: AwareDatetime
    revoked_at: AwareDatetime | None = None


class SessionRecord(_Record):
    """A refresh-token family: the current token's digest and the spent ones, so reuse can be detected."""

    id: uuid.UUID
    organization_id: uuid.UUID
    subject_kind: SubjectKind
    subject_id: uuid.UUID
    scopes: tuple[Scope, ...]
    current_hash: str
    spent_hashes: tuple[str, ...] = ()
    expires_at: AwareDatetime
    created_at: AwareDatetime
    rotated_at: AwareDatetime
    revoked_at: AwareDatetime | None = None
    revoked_reason: str | None = None


# --- events: whole state per entity -----------------------------------------------------------

@register_event
class OrganizationSaved(DomainEvent):
    event_type = "OrganizationSaved"
    organization: OrganizationRecord


@register_event
class UserSaved(DomainEvent):
    event_type = "UserSaved"
    user: UserRecord


@register_event
class UserDeleted(DomainEvent):
    event_type = "UserDeleted"
    user_id: uuid.UUID


@register_event
class ProjectSaved(DomainEvent):
    event_type = "ProjectSaved"
    project: ProjectRecord


@register_event
class ProjectDeleted(DomainEvent):
    event_type = "ProjectDeleted"
    project_id: uuid.UUID


@register_event
class ApiKeySaved(DomainEvent):
    event_type = "ApiKeySaved"
    api_key: ApiKeyRecord


@register_event
class OAuthClientSaved(DomainEvent):
    event_type = "OAuthClientSaved"
    client: OAuthClientRecord


@register_event
class SessionSaved(DomainEvent):
    event_type = "SessionSaved"
    session: SessionRecord


@register_event
class AccessTokenRevoked(DomainEvent):
    """A signed access token refused before its expiry (logout, revoke); forgotten once it expires."""

    event_type = "AccessTokenRevoked"
    jti: uuid.UUID
    organization_id: uuid.UUID
    expires_at: AwareDatetime


IdentityEvent = (OrganizationSaved | UserSaved | UserDeleted | ProjectSaved | ProjectDeleted | ApiKeySaved
                 | OAuthClientSaved | SessionSaved | AccessTokenRevoked)


def entity_id_of(event: IdentityEvent) -> uuid.UUID:
    """The Kafka key of an identity event: the entity it carries."""
    match event:
        case OrganizationSaved(): return event.organization.id
        case UserSaved(): return event.user.id
        case UserDeleted(): return event.user_id
        case ProjectSaved(): return event.project.id
        case ProjectDeleted(): return event.project_id
        case ApiKeySaved(): return event.api_key.id
        case OAuthClientSaved(): return event.client.id
        case SessionSaved(): return event.session.id
        case AccessTokenRevoked(): return event.jti
    raise TypeError(type(event).__name__)


# --- commands: what the identity owner decides ------------------------------------------------

class _Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    organization_id: uuid.UUID


class RegisterOrganization(_Command):
    """A new organization with its first admin and a default project (``POST /auth/register``)."""

    kind: Literal["register"] = "register"
    organization_name: EntityName
    user_id: uuid.UUID
    email: Email
    name: EntityName | None = None
    password_hash: str
    project_id: uuid.UUID


class EnsureBootstrap(_Command):
    """The configured bootstrap tenant and key of a dev or test system; a no-op when they exist."""

    kind: Literal["bootstrap"] = "bootstrap"
    project_id: uuid.UUID
    key_id: uuid.UUID
    key_prefix: str
    key_hash: str


class CreateUser(_Command):
    kind: Literal["create_user"] = "create_user"
    user_id: uuid.UUID
    email: Email
    name: EntityName | None = None
    role: Role
    password_hash: str


class UpdateUser(_Command):
    kind: Literal["update_user"] = "update_user"
    user_id: uuid.UUID
    email: Email | None = None
    name: EntityName | None = None
    password_hash: str | None = None


class DeleteUser(_Command):
    kind: Literal["delete_user"] = "delete_user"
    user_id: uuid.UUID


class UpdateOrganization(_Command):
    kind: Literal["update_organization"] = "update_organization"
    name: EntityName | None = None
    billing_email: Email | None = None
    tier: Tier | None = None


class CreateProject(_Command):
    kind: Literal["create_project"] = "create_project"
    project_id: uuid.UUID
    name: EntityName
    description: Description | None = None


class UpdateProject(_Command):
    kind: Literal["update_project"] = "update_project"
    project_id: uuid.UUID
    name: EntityName | None = None
    description: Description | None = None


class DeleteProject(_Command):
    kind: Literal["delete_project"] = "delete_project"
    project_id: uuid.UUID
    live_queues: int = Field(ge=0)
    """Queues the project still has, counted by the API from the queue directory just before."""


class CreateApiKey(_Command):
    kind: Literal["create_api_key"] = "create_api_key"
    key_id: uuid.UUID
    project_id: uuid.UUID
    name: EntityName
    prefix: str
    key_hash: str
    permissions: tuple[Scope, ...]
    rate_limits: RateBudget = RateBudget()
    expires_at: AwareDatetime | None = None
    created_by: str


class RevokeApiKey(_Command):
    kind: Literal["revoke_api_key"] = "revoke_api_key"
    key_id: uuid.UUID


class TouchApiKeys(_Command):
    """When keys were last used, flushed by an API replica at most once a minute (not per request)."""

    kind: Literal["touch_api_keys"] = "touch_api_keys"
    last_used: dict[uuid.UUID, AwareDatetime]


class CreateOAuthClient(_Command):
    kind: Literal["create_client"] = "create_client"
    client_id: uuid.UUID
    project_id: uuid.UUID
    name: EntityName
    secret_prefix: str
    secret_hash: str
    scopes: tuple[Scope, ...]
    created_by: str


class RevokeOAuthClient(_Command):
    kind: Literal["revoke_client"] = "revoke_client"
    client_id: uuid.UUID


class StartSession(_Command):
    """A login or a client's token grant: a new refresh-token family."""

    kind: Literal["start_session"] = "start_session"
    session_id: uuid.UUID
    subject_kind: SubjectKind
    subject_id: uuid.UUID
    scopes: tuple[Scope, ...]
    token_hash: str
    expires_at: AwareDatetime


class RotateSession(_Command):
    """Spend a refresh token for a new one; a spent token presented again revokes the whole family."""

    kind: Literal["rotate_session"] = "rotate_session"
    session_id: uuid.UUID
    presented_hash: str
    new_hash: str


class RevokeSession(_Command):
    kind: Literal["revoke_session"] = "revoke_session"
    session_id: uuid.UUID | None
    """None: only the access token below (a token issued without a session)."""
    reason: str
    access_jti: uuid.UUID | None = None
    access_expires_at: AwareDatetime | None = None


class RevokeAccessToken(_Command):
    kind: Literal["revoke_access"] = "revoke_access"
    jti: uuid.UUID
    expires_at: AwareDatetime


IdentityCommand = Annotated[
    RegisterOrganization | EnsureBootstrap | CreateUser | UpdateUser | DeleteUser | UpdateOrganization
    | CreateProject | UpdateProject | DeleteProject | CreateApiKey | RevokeApiKey | TouchApiKeys
    | CreateOAuthClient | RevokeOAuthClient | StartSession | RotateSession | RevokeSession | RevokeAccessToken,
    Field(discriminator="kind"),
]

IdentityRefusal = Literal["not_found", "conflict", "invalid", "unauthenticated", "expired", "internal"]


class IdentityCommandEnvelope(BaseModel):
    model_config = ConfigDict(frozen=True)

    command_id: uuid.UUID
    issued_at: AwareDatetime
    """The decision's ``now``, taken at the edge: a redelivery is decided as the first time."""
    correlation_id: str | None = None
    actor: str | None = None
    data: IdentityCommand

    @property
    def key(self) -> bytes:
        return b"identity"

    def headers(self) -> list[tuple[str, bytes]]:
        return [("command_type", self.data.kind.encode()), ("command_id", str(self.command_id).encode())]

    def encoded(self) -> bytes:
        return self.model_dump_json().encode()


class IdentityReply(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: Literal["identity_reply"] = "identity_reply"
    command_id: uuid.UUID
    accepted: bool
    refusal: IdentityRefusal | None = None
    message: str | None = None
    details: dict[str, object] = {}

    @property
    def key(self) -> bytes:
        return str(self.command_id).encode()

    def headers(self) -> list[tuple[str, bytes]]:
        return []

    def encoded(self) -> bytes:
        return self.model_dump_json().encode()
