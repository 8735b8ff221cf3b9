"""Who is calling, for which tenant, with which permissions.

Three kinds of credential, all looked up in memory (``IdentityDirectory``): API keys
(``tf_...``, as ``Authorization: Bearer`` or ``X-API-Key``), and signed access tokens of
users (``POST /auth/login``) and of OAuth2 clients (``POST /oauth/token``). A request acts
on one project: an API key's or a client's own, or for a user the one named by
``X-Project-Id`` (default: the organization's default project). A project the caller
cannot see is answered exactly like one that does not exist.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime

from projections.identity_directory import IdentityDirectory
from schemas.envelope import Tenant
from schemas.identity import NO_PROJECT, RateBudget, SubjectKind
from streams.deciders.identity import Registry, scopes_now
from api.credentials import API_KEY_PREFIX, digest
from api.tokens import TokenSigner
from taskforge.errors import CredentialsExpired, NotFound, PermissionDenied, Unauthenticated


@dataclass(frozen=True)
class Principal:
    organization_id: uuid.UUID
    project_id: uuid.UUID
    subject_kind: SubjectKind
    subject_id: uuid.UUID
    scopes: frozenset[str]
    projects: frozenset[uuid.UUID] | None = None
    """The projects this credential may act on; ``None``: every project of its organization."""
    budget: RateBudget = field(default_factory=RateBudget)
    token_jti: uuid.UUID | None = None
    token_expires_at: datetime | None = None
    session_id: uuid.UUID | None = None

    @property
    def tenant(self) -> Tenant:
        return Tenant(organization_id=self.organization_id, project_id=self.project_id)

    @property
    def subject(self) -> str:
        """The actor recorded on the events this caller causes."""
        return f"{self.subject_kind}:{self.subject_id}"

    def require(self, scope: str) -> None:
        if scope not in self.scopes:
            raise PermissionDenied(f"this credential lacks the {scope!r} permission")

    def may_use_project(self, project_id: uuid.UUID) -> bool:
        return self.projects is None or project_id in self.projects

    def for_project(self, project_id: uuid.UUID) -> Principal:
        return replace(self, project_id=project_id)


def credential_of(authorization: str | None, api_key_header: str | None) -> str:
    """The presented credential, from ``X-API-Key`` or ``Authorization: Bearer``."""
    if api_key_header:
        return api_key_header.strip()
    if not authorization:
        raise Unauthenticated("missing credentials: send 'Authorization: Bearer <token>' or 'X-API-Key: tf_...'")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Unauthenticated("Authorization must be 'Bearer <token>'")
    return value.strip()


class Authenticator:
    def __init__(self, directory: IdentityDirectory, signer: TokenSigner) -> None:
        self._directory = directory
        self._signer = signer
        self.keys_used: dict[uuid.UUID, tuple[uuid.UUID, datetime]] = {}
        """API key id -> (organization, last use), flushed to the log once a minute (``AppContext``)."""

    @property
    def registry(self) -> Registry:
        return self._directory.registry

    async def authenticate(self, credential: str, project_header: str | None, now: datetime) -> Principal:
        if credential.startswith(API_KEY_PREFIX):
            principal = await self._api_key(credential, now)
        else:
            principal = self._access_token(credential, now)
        return self._choose_project(principal, project_header)

    async def _api_key(self, key: str, now: datetime) -> Principal:
        key_hash = digest(key)
        found = await self._directory.lookup(lambda: self.registry.key_by_hash.get(key_hash))
        record = self.registry.api_keys.get(found) if found is not None else None
        if record is None:
            raise Unauthenticated("invalid API key")
        if record.revoked_at is not None:
            raise Unauthenticated("this API key has been revoked")
        if record.expires_at is not None and record.expires_at <= now:
            raise CredentialsExpired("this API key has expired")
        if self.registry.project_in(record.organization_id, record.project_id) is None:
            raise Unauthenticated("this API key's project no longer exists")
        self.keys_used[record.id] = (record.organization_id, now)
        return Principal(organization_id=record.organization_id, project_id=record.project_id,
                         subject_kind="api_key", subject_id=record.id, scopes=frozenset(record.permissions),
                         projects=frozenset({record.project_id}), budget=record.rate_limits)

    def _access_token(self, token: str, now: datetime) -> Principal:
        claims = self._signer.verify(token, now)
        registry = self.registry
        if claims.jti in registry.revoked_access:
            raise Unauthenticated("this token has been revoked")
        if claims.session_id is not None:
            session = registry.sessions.get(claims.session_id)
            if session is not None and session.revoked_at is not None:
                raise Unauthenticated("this token's session has been revoked")
        org = registry.organizations.get(claims.organization_id)
        if org is None:
            raise Unauthenticated("invalid token")
        common = dict(organization_id=org.id, subject_kind=claims.subject_kind, subject_id=claims.subject_id,
                      token_jti=claims.jti, token_expires_at=claims.expires_at, session_id=claims.session_id)
        if claims.subject_kind == "user":
            user = registry.user_in(org.id, claims.subject_id)
            if user is None:
                raise Unauthenticated("this token's user no longer exists")
            # a role lowered after the token was issued lowers the token's reach at once
            return Principal(project_id=org.default_project_id, scopes=scopes_now(registry, "user", user.id, claims.scopes),
                             **common)  # type: ignore[arg-type]
        if claims.subject_kind == "client":
            client = registry.client_in(org.id, claims.subject_id)
            if client is None or client.revoked_at is not None:
                raise Unauthenticated("this token's client has been revoked")
            return Principal(project_id=client.project_id, scopes=scopes_now(registry, "client", client.id, claims.scopes),
                             projects=frozenset({client.project_id}), **common)  # type: ignore[arg-type]
        raise Unauthenticated("invalid token")

    def _choose_project(self, principal: Principal, project_header: str | None) -> Principal:
        if not project_header:
            return principal
        try:
            project_id = uuid.UUID(project_header.strip())
        except ValueError as exc:
            raise NotFound("project not found: X-Project-Id is not a project id") from exc
        if (project_id == NO_PROJECT or not principal.may_use_project(project_id)
                or self.registry.project_in(principal.organization_id, project_id) is None):
            raise NotFound(f"project {project_id} not found")
        return principal.for_project(project_id)
