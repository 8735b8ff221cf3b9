"""The caller's organization (seed 000 §4.1)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from starlette.responses import Response

from api.auth import Principal
from api.context import AppContext
from api.deps import CurrentPrincipal, Ctx, RequestId
from api.envelope import success
from api.identity import ask_identity, organization_view
from schemas.api.common import Envelope, Pagination
from schemas.api.identity import OrganizationList, OrganizationUpdateRequest, OrganizationView
from schemas.identity import OrganizationRecord, UpdateOrganization
from taskforge.errors import NotFound

router = APIRouter(prefix="/organizations", tags=["organizations"])


def _own(ctx: AppContext, principal: Principal, organization_id: uuid.UUID) -> OrganizationRecord:
    org = ctx.identity.registry.organizations.get(organization_id)
    if org is None or organization_id != principal.organization_id:
        raise NotFound(f"organization {organization_id} not found")
    return org


@router.get("", response_model=Envelope[OrganizationList], summary="The caller's organizations")
async def list_organizations(ctx: Ctx, principal: CurrentPrincipal, request_id: RequestId) -> Response:
    org = _own(ctx, principal, principal.organization_id)
    return success(OrganizationList(organizations=[organization_view(org)], pagination=Pagination.of(1, 10, 1)),
                   request_id)


@router.get("/{organization_id}", response_model=Envelope[OrganizationView], summary="One organization")
async def get_organization(organization_id: uuid.UUID, ctx: Ctx, principal: CurrentPrincipal,
                           request_id: RequestId) -> Response:
    return success(organization_view(_own(ctx, principal, organization_id)), request_id)


@router.put("/{organization_id}", response_model=Envelope[OrganizationView],
            summary="Change the name, billing email or tier (admin)")
async def update_organization(organization_id: uuid.UUID, body: OrganizationUpdateRequest, ctx: Ctx,
                              principal: CurrentPrincipal, request_id: RequestId) -> Response:
    org = _own(ctx, principal, organization_id)
    principal.require("org:admin")
    await ask_identity(ctx, UpdateOrganization(organization_id=org.id, **body.model_dump()), request_id,
                       principal.subject)
    return success(organization_view(ctx.identity.registry.organizations[org.id]), request_id,
                   message="Organization updated")
