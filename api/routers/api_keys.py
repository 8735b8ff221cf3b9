"""API keys (seed 000 §8, seed 002): shown once at creation, kept as a digest and a short prefix."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from api.credentials import new_api_key
from api.deps import CurrentPrincipal, Ctx, RequestId
from api.envelope import success
from api.identity import api_key_view, ask_identity, grantable, visible_project
from schemas.api.common import Envelope, Pagination
from schemas.api.identity import ApiKeyCreated, ApiKeyCreateRequest, ApiKeyList
from schemas.identity import CreateApiKey, RevokeApiKey
from taskforge.errors import NotFound

router = APIRouter(prefix="/api-keys", tags=["api-keys"])


@router.post("", status_code=201, response_model=Envelope[ApiKeyCreated], summary="Create an API key (shown once)")
async def create_api_key(body: ApiKeyCreateRequest, ctx: Ctx, principal: CurrentPrincipal,
                         request_id: RequestId) -> Response:
    principal.require("project:admin")
    project = visible_project(ctx, principal, body.project_id or principal.project_id)
    permissions = grantable(principal, list(body.permissions), "key")
    key = new_api_key()
    key_id = uuid.uuid4()
    await ask_identity(ctx, CreateApiKey(
        organization_id=principal.organization_id, key_id=key_id, project_id=project.id, name=body.name,
        prefix=key.prefix, key_hash=key.digest, permissions=permissions,  # type: ignore[arg-type]
        rate_limits=body.rate_limits, expires_at=body.expires_at, created_by=principal.subject,
    ), request_id, principal.subject)
    view = api_key_view(ctx.identity.registry.api_keys[key_id])
    return success(ApiKeyCreated(**view.model_dump(), key=key.value), request_id,
                   message="API key created successfully; it is shown this once", status_code=201)


@router.get("", response_model=Envelope[ApiKeyList], summary="The keys of the project the request acts on")
async def list_api_keys(ctx: Ctx, principal: CurrentPrincipal, request_id: RequestId,
                        include_revoked: bool = False,
                        page: Annotated[int, Query(ge=1, le=100_000)] = 1,
                        limit: Annotated[int, Query(ge=1, le=100)] = 10) -> Response:
    principal.require("project:admin")
    keys = sorted((k for k in ctx.identity.registry.api_keys.values()
                   if k.organization_id == principal.organization_id and k.project_id == principal.project_id
                   and (include_revoked or k.revoked_at is None)), key=lambda k: (k.created_at, k.name))
    shown, pagination = Pagination.slice(keys, page, limit)
    return success(ApiKeyList(api_keys=[api_key_view(k) for k in shown], pagination=pagination), request_id)


@router.delete("/{key_id}", response_model=Envelope[dict], summary="Revoke a key, at once on every replica")
async def revoke_api_key(key_id: uuid.UUID, ctx: Ctx, principal: CurrentPrincipal, request_id: RequestId) -> Response:
    principal.require("project:admin")
    key = ctx.identity.registry.key_in(principal.organization_id, key_id)
    if key is None or not principal.may_use_project(key.project_id):
        raise NotFound(f"API key {key_id} not found")
    await ask_identity(ctx, RevokeApiKey(organization_id=key.organization_id, key_id=key.id), request_id,
                       principal.subject)
    return success({}, request_id, message="API key revoked")
