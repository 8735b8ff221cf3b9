"""Sessions of people (seed 000 §3, seed 001 §3.2, seed 003 §1): register, login, refresh, logout, validate."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from starlette.responses import Response

from api.deps import CurrentPrincipal, Ctx, PublicCall, RequestId
from api.envelope import success
from api.identity import (
    ask_identity, organization_view, project_view, rotate_session, start_session, user_view,
)
from api.credentials import parse_refresh_token
from api.passwords import check_strength
from schemas.api.common import Envelope
from schemas.api.identity import (
    LoginRequest, LogoutRequest, RefreshRequest, RegisterRequest, Registered, TokenPair, ValidatedToken,
)
from schemas.identity import ROLE_SCOPES, RegisterOrganization, RevokeSession
from taskforge.errors import Unauthenticated

router = APIRouter(prefix="/auth", tags=["auth"])
_BAD_LOGIN = "invalid email or password"


@router.post("/register", status_code=201, response_model=Envelope[Registered],
             summary="Create an organization, its default project and its first admin", openapi_extra={"security": []})
async def register(body: RegisterRequest, ctx: Ctx, request_id: RequestId, _: PublicCall) -> Response:
    check_strength(body.password, body.email)
    org_id, user_id, project_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await ask_identity(ctx, RegisterOrganization(
        organization_id=org_id, organization_name=body.organization_name, user_id=user_id, email=body.email,
        name=body.name, password_hash=await ctx.passwords.hash(body.password), project_id=project_id,
    ), request_id, f"user:{user_id}")
    registry = ctx.identity.registry
    tokens = await start_session(ctx, organization_id=org_id, subject_kind="user", subject_id=user_id,
                                 scopes=ROLE_SCOPES["admin"], request_id=request_id)
    data = Registered(user=user_view(registry.users[user_id]), organization=organization_view(
        registry.organizations[org_id]), project=project_view(registry.projects[project_id]), tokens=tokens)
    return success(data, request_id, message="Registration successful", status_code=201)


@router.post("/login", response_model=Envelope[TokenPair], summary="Exchange email and password for tokens",
             openapi_extra={"security": []})
async def login(body: LoginRequest, request: Request, ctx: Ctx, request_id: RequestId, _: PublicCall) -> Response:
    """The same answer whether the email exists or not, after the same work (a decoy hash is verified)."""
    now = ctx.clock.now().timestamp()
    ctx.budgets.check_login(request, body.email, now)
    registry = ctx.identity.registry
    user_id = registry.user_by_email.get(body.email)
    user = registry.users.get(user_id) if user_id is not None else None
    if not await ctx.passwords.verify(user.password_hash if user is not None else None, body.password):
        ctx.budgets.login_failed(request, body.email, now)
        raise Unauthenticated(_BAD_LOGIN)
    assert user is not None
    tokens = await start_session(ctx, organization_id=user.organization_id, subject_kind="user", subject_id=user.id,
                                 scopes=ROLE_SCOPES[user.role], request_id=request_id)
    return success(tokens, request_id, message="Login successful")


@router.post("/refresh", response_model=Envelope[TokenPair], openapi_extra={"security": []},
             summary="Spend a refresh token for a new pair (a spent one, presented again, ends the session)")
async def refresh(body: RefreshRequest, ctx: Ctx, request_id: RequestId, _: PublicCall) -> Response:
    return success(await rotate_session(ctx, body.refresh_token, request_id), request_id,
                   message="Token refreshed")


@router.post("/logout", response_model=Envelope[dict], summary="Revoke this access token and its session")
async def logout(ctx: Ctx, principal: CurrentPrincipal, request_id: RequestId,
                 body: LogoutRequest | None = None) -> Response:
    session_id = principal.session_id
    if body is not None and body.refresh_token is not None:
        presented_session, _ = parse_refresh_token(body.refresh_token)
        session_id = session_id or presented_session
    if session_id is None and principal.token_jti is None:
        return success({}, request_id, message="Nothing to log out: API keys are revoked with DELETE /api-keys/{id}")
    await ask_identity(ctx, RevokeSession(
        organization_id=principal.organization_id, session_id=session_id, reason="logout",
        access_jti=principal.token_jti, access_expires_at=principal.token_expires_at,
    ), request_id, principal.subject)
    return success({}, request_id, message="Logged out")


@router.get("/validate", response_model=Envelope[ValidatedToken], summary="Check the presented credential")
async def validate(principal: CurrentPrincipal, request_id: RequestId) -> Response:
    return success(ValidatedToken(
        subject_kind=principal.subject_kind, subject_id=principal.subject_id,
        organization_id=principal.organization_id, project_id=principal.project_id,
        scopes=sorted(principal.scopes), expires_at=principal.token_expires_at,
    ), request_id)
