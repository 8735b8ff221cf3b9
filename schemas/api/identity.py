"""Requests and views of identity: auth, users, organizations, projects, API keys, OAuth2 clients
(seed 000 §3, §4, §8; seed 002; seed 003 §1, §2). Views never carry a secret's hash; a secret is
shown once, in the answer that created it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from schemas.api.common import Pagination
from schemas.identity import Description, Email, EntityName, RateBudget, Role, Scope, Tier

Password = str


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RegisterRequest(_Request):
    email: Email
    password: Password = Field(min_length=1, max_length=256)
    organization_name: EntityName
    name: EntityName | None = None


class LoginRequest(_Request):
    email: Email
    password: Password = Field(min_length=1, max_length=256)


class RefreshRequest(_Request):
    refresh_token: str = Field(min_length=1, max_length=200)


class LogoutRequest(_Request):
    refresh_token: str | None = Field(default=None, min_length=1, max_length=200)


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: Literal["Bearer"] = "Bearer"
    scope: str


class UserView(BaseModel):
    id: uuid.UUID
    organization_id: uuid.UUID
    email: str
    name: str | None
    role: Role
    created_at: datetime
    updated_at: datetime


class OrganizationView(BaseModel):
    id: uuid.UUID
    name: str
    billing_email: str | None
    tier: Tier
    default_project_id: uuid.UUID
    created_at: datetime
    updated_at: datetime


class ProjectView(BaseModel):
    id: uuid.UUID
    organization_id: uuid.UUID
    name: str
    description: str | None
    created_at: datetime
    updated_at: datetime


class Registered(BaseModel):
    user: UserView
    organization: OrganizationView
    project: ProjectView
    tokens: TokenPair


class ValidatedToken(BaseModel):
    valid: Literal[True] = True
    subject_kind: Literal["user", "api_key", "client"]
    subject_id: uuid.UUID
    organization_id: uuid.UUID
    project_id: uuid.UUID
    scopes: list[str]
    expires_at: datetime | None


class UserUpdateRequest(_Request):
    email: Email | None = None
    name: EntityName | None = None
    password: Password | None = Field(default=None, min_length=1, max_length=256)
    current_password: Password | None = Field(default=None, min_length=1, max_length=256,
                                              description="Required to change the email or the password.")


class UserCreateRequest(_Request):
    email: Email
    password: Password = Field(min_length=1, max_length=256)
    name: EntityName | None = None
    role: Role = "member"


class UserList(BaseModel):
    users: list[UserView]
    pagination: Pagination


class OrganizationList(BaseModel):
    organizations: list[OrganizationView]
    pagination: Pagination


class OrganizationUpdateRequest(_Request):
    name: EntityName | None = None
    billing_email: Email | None = None
    tier: Tier | None = None


class ProjectCreateRequest(_Request):
    name: EntityName
    description: Description | None = None
    organization_id: uuid.UUID | None = Field(default=None, description="Optional; must be the caller's organization.")


class ProjectUpdateRequest(_Request):
    name: EntityName | None = None
    description: Description | None = None


class ProjectList(BaseModel):
    projects: list[ProjectView]
    pagination: Pagination


class ApiKeyCreateRequest(_Request):
    name: EntityName
    project_id: uuid.UUID | None = Field(default=None, description="Default: the project the request acts on.")
    permissions: list[Scope] = Field(min_length=1, max_length=16)
    expires_at: AwareDatetime | None = None
    rate_limits: RateBudget = RateBudget()


class ApiKeyView(BaseModel):
    id: uuid.UUID
    project_id: uuid.UUID
    name: str
    prefix: str
    permissions: list[str]
    rate_limits: RateBudget
    expires_at: datetime | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyView):
    key: str = Field(description="The key itself: shown this once, never again.")


class ApiKeyList(BaseModel):
    api_keys: list[ApiKeyView]
    pagination: Pagination


class OAuthClientCreateRequest(_Request):
    name: EntityName
    project_id: uuid.UUID | None = Field(default=None, description="Default: the project the request acts on.")
    scopes: list[Scope] = Field(min_length=1, max_length=16)


class OAuthClientView(BaseModel):
    client_id: uuid.UUID
    project_id: uuid.UUID
    name: str
    secret_prefix: str
    scopes: list[str]
    created_at: datetime
    revoked_at: datetime | None


class OAuthClientCreated(OAuthClientView):
    client_secret: str = Field(description="Shown this once, never again.")


class OAuthClientList(BaseModel):
    clients: list[OAuthClientView]


class TokenRequest(_Request):
    """RFC 6749 §4.4 and §6, as a form (``application/x-www-form-urlencoded``) or JSON."""

    grant_type: Literal["client_credentials", "refresh_token"]
    client_id: uuid.UUID | None = None
    client_secret: str | None = Field(default=None, max_length=200)
    refresh_token: str | None = Field(default=None, max_length=200)
    scope: str | None = Field(default=None, max_length=500)


class RevokeRequest(_Request):
    """RFC 7009: revoking an unknown or already revoked token succeeds."""

    token: str = Field(min_length=1, max_length=4096)
    token_type_hint: Literal["access_token", "refresh_token"] | None = None


class UserInfo(BaseModel):
    sub: uuid.UUID
    subject_kind: Literal["user", "api_key", "client"]
    organization_id: uuid.UUID
    project_id: uuid.UUID
    scopes: list[str]
    email: str | None = None
    name: str | None = None
    role: Role | None = None
