"""OAuth2 (seed 002): client registration, the token endpoint (client_credentials and refresh_token
grants, RFC 6749), revocation (RFC 7009) and userinfo. Answers use the platform's envelope."""

from __future__ import annotations

import base64
import binascii
import hmac
import uuid
from urllib.parse import parse_qsl

import orjson
from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.responses import Response

from api.credentials import REFRESH_TOKEN_PREFIX, digest, new_client_secret, parse_refresh_token
from api.deps import CurrentPrincipal, Ctx, PublicCall, RequestId
from api.envelope import success
from api.identity import ask_identity, client_view, grantable, rotate_session, start_session, visible_project
from schemas.api.common import Envelope
from schemas.api.identity import (
    OAuthClientCreated, OAuthClientCreateRequest, OAuthClientList, RevokeRequest, TokenPair, TokenRequest, UserInfo,
)
from schemas.identity import CreateOAuthClient, RevokeAccessToken, RevokeOAuthClient, RevokeSession
from taskforge.errors import (
    CredentialsExpired, InvalidInput, NotFound, PermissionDenied, Unauthenticated, invalid_input,
)

router = APIRouter(prefix="/oauth", tags=["oauth"])
_FORM = "application/x-www-form-urlencoded"


@router.post("/clients", status_code=201, response_model=Envelope[OAuthClientCreated],
             summary="Register a client of a project (its secret is shown once)")
async def create_client(body: OAuthClientCreateRequest, ctx: Ctx, principal: CurrentPrincipal,
                        request_id: RequestId) -> Response:
    principal.require("project:admin")
    project = visible_project(ctx, principal, body.project_id or principal.project_id)
    scopes = grantable(principal, list(body.scopes), "client")
    secret = new_client_secret()
    client_id = uuid.uuid4()
    await ask_identity(ctx, CreateOAuthClient(
        organization_id=principal.organization_id, client_id=client_id, project_id=project.id, name=body.name,
        secret_prefix=secret.prefix, secret_hash=secret.digest, scopes=scopes,  # type: ignore[arg-type]
        created_by=principal.subject), request_id, principal.subject)
    view = client_view(ctx.identity.registry.clients[client_id])
    return success(OAuthClientCreated(**view.model_dump(), client_secret=secret.value), request_id,
                   message="Client registered; its secret is shown this once", status_code=201)


@router.get("/clients", response_model=Envelope[OAuthClientList], summary="The clients of the request's project")
async def list_clients(ctx: Ctx, principal: CurrentPrincipal, request_id: RequestId) -> Response:
    principal.require("project:admin")
    clients = sorted((c for c in ctx.identity.registry.clients.values()
                      if c.organization_id == principal.organization_id and c.project_id == principal.project_id
                      and c.revoked_at is None), key=lambda c: (c.created_at, c.name))
    return success(OAuthClientList(clients=[client_view(c) for c in clients]), request_id)


@router.delete("/clients/{client_id}", response_model=Envelope[dict],
               summary="Revoke a client and every session it holds")
async def revoke_client(client_id: uuid.UUID, ctx: Ctx, principal: CurrentPrincipal, request_id: RequestId) -> Response:
    principal.require("project:admin")
    client = ctx.identity.registry.client_in(principal.organization_id, client_id)
    if client is None or not principal.may_use_project(client.project_id):
        raise NotFound(f"OAuth client {client_id} not found")
    await ask_identity(ctx, RevokeOAuthClient(organization_id=client.organization_id, client_id=client.id),
                       request_id, principal.subject)
    return success({}, request_id, message="Client revoked")


async def _token_request(request: Request) -> TokenRequest:
    """RFC 6749 sends a form; JSON is accepted too. Client credentials may come as HTTP Basic."""
    raw = await request.body()
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if media_type == _FORM:
            fields: dict[str, object] = dict(parse_qsl(raw.decode(), keep_blank_values=False))
        else:
            fields = orjson.loads(raw) if raw else {}
            if not isinstance(fields, dict):
                raise InvalidInput("the token request must be an object")
    except (UnicodeDecodeError, orjson.JSONDecodeError) as exc:
        raise InvalidInput("the token request is not a valid form or JSON body") from exc
    basic = request.headers.get("authorization", "")
    if basic.lower().startswith("basic "):
        try:
            client_id, _, client_secret = base64.b64decode(basic[6:].strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise Unauthenticated("malformed HTTP Basic credentials") from exc
        fields.setdefault("client_id", client_id)
        fields.setdefault("client_secret", client_secret)
    try:
        return TokenRequest.model_validate(fields)
    except ValidationError as exc:
        raise invalid_input("token request", exc.errors()) from exc


@router.post("/token", response_model=Envelope[TokenPair], openapi_extra={
    "security": [],
    "requestBody": {"required": True, "content": {
        _FORM: {"schema": TokenRequest.model_json_schema()},
        "application/json": {"schema": TokenRequest.model_json_schema()},
    }},
}, summary="Tokens for a client (client_credentials) or a new pair (refresh_token)")
async def token(request: Request, ctx: Ctx, request_id: RequestId, _: PublicCall) -> Response:
    body = await _token_request(request)
    if body.grant_type == "refresh_token":
        if body.refresh_token is None:
            raise InvalidInput("refresh_token is required for the refresh_token grant")
        return success(await rotate_session(ctx, body.refresh_token, request_id, expect_subject=body.client_id),
                       request_id)
    if body.client_id is None or body.client_secret is None:
        raise Unauthenticated("client_id and client_secret are required for client_credentials")
    client = ctx.identity.registry.clients.get(body.client_id)
    if client is None or not hmac.compare_digest(client.secret_hash, digest(body.client_secret)):
        raise Unauthenticated("invalid client credentials")
    if client.revoked_at is not None:
        raise Unauthenticated("this client has been revoked")
    requested = frozenset(body.scope.split()) if body.scope else frozenset(client.scopes)
    beyond = sorted(requested - frozenset(client.scopes))
    if beyond:
        raise PermissionDenied(f"scopes not granted to this client: {', '.join(beyond)}")
    tokens = await start_session(ctx, organization_id=client.organization_id, subject_kind="client",
                                 subject_id=client.id, scopes=requested, request_id=request_id)
    return success(tokens, request_id)


@router.post("/revoke", response_model=Envelope[dict], summary="Revoke an access or refresh token (RFC 7009)")
async def revoke(body: RevokeRequest, ctx: Ctx, principal: CurrentPrincipal, request_id: RequestId) -> Response:
    """Only tokens of the caller's organization are touched; others, and unknown ones, succeed silently."""
    if body.token.startswith(REFRESH_TOKEN_PREFIX):
        try:
            session_id, _ = parse_refresh_token(body.token)
        except Unauthenticated:
            return success({}, request_id, message="Token revoked")
        session = ctx.identity.registry.session_in(principal.organization_id, session_id)
        if session is not None:
            await ask_identity(ctx, RevokeSession(organization_id=session.organization_id, session_id=session.id,
                                                  reason="revoked"), request_id, principal.subject)
        return success({}, request_id, message="Token revoked")
    try:
        claims = ctx.signer.verify(body.token, ctx.clock.now())
    except CredentialsExpired:
        return success({}, request_id, message="Token revoked")  # expired: nothing left to revoke
    except Unauthenticated:
        return success({}, request_id, message="Token revoked")
    if claims.organization_id == principal.organization_id:
        await ask_identity(ctx, RevokeAccessToken(organization_id=claims.organization_id, jti=claims.jti,
                                                  expires_at=claims.expires_at), request_id, principal.subject)
    return success({}, request_id, message="Token revoked")


@router.get("/userinfo", response_model=Envelope[UserInfo], summary="Who the presented credential is")
async def userinfo(ctx: Ctx, principal: CurrentPrincipal, request_id: RequestId) -> Response:
    info = UserInfo(sub=principal.subject_id, subject_kind=principal.subject_kind,
                    organization_id=principal.organization_id, project_id=principal.project_id,
                    scopes=sorted(principal.scopes))
    if principal.subject_kind == "user":
        user = ctx.identity.registry.users.get(principal.subject_id)
        if user is not None:
            info = info.model_copy(update={"email": user.email, "name": user.name, "role": user.role})
    return success(info, request_id)
