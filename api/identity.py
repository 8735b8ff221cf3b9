"""The identity write paths shared by the auth, user, project, key and client routes: ask the
identity owner, map its refusal, wait until this replica's directory shows the change; views
of the registry's records; sessions (a refresh-token family and its access tokens).
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from api.auth import Principal
from api.context import AppContext
from api.credentials import new_refresh_token, parse_refresh_token
from streams.deciders.identity import scopes_now
from schemas.api.identity import (
    ApiKeyView, OAuthClientView, OrganizationView, ProjectView, TokenPair, UserView,
)
from schemas.identity import (
    ApiKeyRecord, IdentityCommand, IdentityCommandEnvelope, OAuthClientRecord, OrganizationRecord,
    ProjectRecord, RotateSession, StartSession, SubjectKind, UserRecord,
)
from taskforge.errors import (
    Conflict, CredentialsExpired, DecisionFailed, InvalidInput, NotFound, PermissionDenied, TaskForgeError,
    Unauthenticated,
)

_REFUSALS: dict[str, type[TaskForgeError]] = {
    "not_found": NotFound, "conflict": Conflict, "invalid": InvalidInput, "unauthenticated": Unauthenticated,
    "expired": CredentialsExpired, "internal": DecisionFailed,
}


async def ask_identity(ctx: AppContext, command: IdentityCommand, request_id: str | None, actor: str) -> None:
    """The owner decides; a refusal becomes its typed error. Either way, this replica shows what was decided
    before answering: a refusal can carry events too (a reused refresh token revokes its whole session, and
    the next request on this replica must find it revoked)."""
    reply = await ctx.commands.decide_identity(IdentityCommandEnvelope(
        command_id=uuid.uuid4(), issued_at=ctx.clock.now(), correlation_id=request_id, actor=actor, data=command))
    await ctx.identity.tail.catch_up()
    if not reply.accepted:
        raise _REFUSALS[reply.refusal or "invalid"](reply.message or "refused", details=dict(reply.details))


def user_view(user: UserRecord) -> UserView:
    return UserView(id=user.id, organization_id=user.organization_id, email=user.email, name=user.name,
                    role=user.role, created_at=user.created_at, updated_at=user.updated_at)


def organization_view(org: OrganizationRecord) -> OrganizationView:
    return OrganizationView(id=org.id, name=org.name, billing_email=org.billing_email, tier=org.tier,
                            default_project_id=org.default_project_id, created_at=org.created_at,
                            updated_at=org.updated_at)


def project_view(project: ProjectRecord) -> ProjectView:
    return ProjectView(id=project.id, organization_id=project.organization_id, name=project.name,
                       description=project.description, created_at=project.created_at, updated_at=project.updated_at)


def api_key_view(key: ApiKeyRecord) -> ApiKeyView:
    return ApiKeyView(id=key.id, project_id=key.project_id, name=key.name, prefix=key.prefix,
                      permissions=list(key.permissions), rate_limits=key.rate_limits, expires_at=key.expires_at,
                      created_at=key.created_at, last_used_at=key.last_used_at, revoked_at=key.revoked_at)


def client_view(client: OAuthClientRecord) -> OAuthClientView:
    return OAuthClientView(client_id=client.id, project_id=client.project_id, name=client.name,
                           secret_prefix=client.secret_prefix, scopes=list(client.scopes),
                           created_at=client.created_at, revoked_at=client.revoked_at)


def grantable(principal: Principal, scopes: list[str], what: str) -> tuple[str, ...]:
    """The scopes for a new key or client: no more than its creator holds (403 otherwise), each once."""
    beyond = sorted(set(scopes) - principal.scopes)
    if beyond:
        raise PermissionDenied(f"a {what} cannot get permissions its creator lacks: {', '.join(beyond)}")
    return tuple(dict.fromkeys(scopes))


def visible_project(ctx: AppContext, principal: Principal, project_id: uuid.UUID) -> ProjectRecord:
    """A project the caller may see, or 404 exactly as for one that does not exist."""
    project = ctx.identity.registry.project_in(principal.organization_id, project_id)
    if project is None or not principal.may_use_project(project_id):
        raise NotFound(f"project {project_id} not found")
    return project


async def start_session(ctx: AppContext, *, organization_id: uuid.UUID, subject_kind: SubjectKind,
                        subject_id: uuid.UUID, scopes: frozenset[str], request_id: str | None) -> TokenPair:
    """A new refresh-token family (recorded by the owner, hashed) and its first access token."""
    session_id = uuid.uuid4()
    refresh = new_refresh_token(session_id)
    now = ctx.clock.now()
    await ask_identity(ctx, StartSession(
        organization_id=organization_id, session_id=session_id, subject_kind=subject_kind, subject_id=subject_id,
        scopes=tuple(sorted(scopes)), token_hash=refresh.digest,  # type: ignore[arg-type]
        expires_at=now + timedelta(seconds=ctx.settings.refresh_token_ttl_seconds),
    ), request_id, f"{subject_kind}:{subject_id}")
    return _pair(ctx, organization_id, subject_kind, subject_id, scopes, session_id, refresh.value)


async def rotate_session(ctx: AppContext, refresh_token: str, request_id: str | None,
                         expect_subject: uuid.UUID | None = None) -> TokenPair:
    """Spend a refresh token for a new pair; the owner refuses a spent one and ends its family."""
    session_id, presented = parse_refresh_token(refresh_token)
    session = await ctx.identity.lookup(lambda: ctx.identity.registry.sessions.get(session_id))
    if session is None or (expect_subject is not None and session.subject_id != expect_subject):
        raise Unauthenticated("invalid refresh token")
    new = new_refresh_token(session_id)
    await ask_identity(ctx, RotateSession(organization_id=session.organization_id, session_id=session_id,
                                          presented_hash=presented, new_hash=new.digest),
                       request_id, f"{session.subject_kind}:{session.subject_id}")
    scopes = scopes_now(ctx.identity.registry, session.subject_kind, session.subject_id, frozenset(session.scopes))
    return _pair(ctx, session.organization_id, session.subject_kind, session.subject_id, scopes, session_id,
                 new.value)


def _pair(ctx: AppContext, organization_id: uuid.UUID, subject_kind: SubjectKind, subject_id: uuid.UUID,
          scopes: frozenset[str], session_id: uuid.UUID, refresh_token: str) -> TokenPair:
    access = ctx.signer.issue(subject_kind=subject_kind, subject_id=subject_id, organization_id=organization_id,
                              scopes=scopes, now=ctx.clock.now(), session_id=session_id)
    return TokenPair(access_token=access.token, refresh_token=refresh_token, expires_in=access.expires_in,
                     scope=" ".join(sorted(scopes)))
