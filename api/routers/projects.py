"""Projects of the caller's organization (seed 000 §4.2, seed 003 §2)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from api.deps import CurrentPrincipal, Ctx, RequestId
from api.envelope import success
from api.identity import ask_identity, project_view, visible_project
from schemas.api.common import Envelope, Pagination
from schemas.api.identity import ProjectCreateRequest, ProjectList, ProjectUpdateRequest, ProjectView
from schemas.envelope import Tenant
from schemas.identity import CreateProject, DeleteProject, UpdateProject
from taskforge.errors import NotFound

router = APIRouter(prefix="/projects", tags=["projects"])


@router.post("", status_code=201, response_model=Envelope[ProjectView], summary="Create a project")
async def create_project(body: ProjectCreateRequest, ctx: Ctx, principal: CurrentPrincipal,
                         request_id: RequestId) -> Response:
    principal.require("project:admin")
    if body.organization_id not in (None, principal.organization_id):
        raise NotFound(f"organization {body.organization_id} not found")
    if principal.projects is not None:
        principal.require("org:admin")  # a key bound to one project creates no others unless it is an org admin's
    project_id = uuid.uuid4()
    await ask_identity(ctx, CreateProject(organization_id=principal.organization_id, project_id=project_id,
                                          name=body.name, description=body.description), request_id,
                       principal.subject)
    return success(project_view(ctx.identity.registry.projects[project_id]), request_id,
                   message="Project created successfully", status_code=201)


@router.get("", response_model=Envelope[ProjectList], summary="The projects the caller can see")
async def list_projects(ctx: Ctx, principal: CurrentPrincipal, request_id: RequestId,
                        page: Annotated[int, Query(ge=1, le=100_000)] = 1,
                        limit: Annotated[int, Query(ge=1, le=100)] = 10) -> Response:
    principal.require("project:read")
    projects = [p for p in ctx.identity.registry.projects_of(principal.organization_id)
                if principal.may_use_project(p.id)]
    shown, pagination = Pagination.slice(projects, page, limit)
    return success(ProjectList(projects=[project_view(p) for p in shown], pagination=pagination), request_id)


@router.get("/{project_id}", response_model=Envelope[ProjectView], summary="One project")
async def get_project(project_id: uuid.UUID, ctx: Ctx, principal: CurrentPrincipal, request_id: RequestId) -> Response:
    principal.require("project:read")
    return success(project_view(visible_project(ctx, principal, project_id)), request_id)


@router.put("/{project_id}", response_model=Envelope[ProjectView], summary="Rename or describe a project")
async def update_project(project_id: uuid.UUID, body: ProjectUpdateRequest, ctx: Ctx, principal: CurrentPrincipal,
                         request_id: RequestId) -> Response:
    project = visible_project(ctx, principal, project_id)
    principal.require("project:admin")
    await ask_identity(ctx, UpdateProject(organization_id=project.organization_id, project_id=project.id,
                                          name=body.name, description=body.description), request_id,
                       principal.subject)
    return success(project_view(ctx.identity.registry.projects[project.id]), request_id, message="Project updated")


@router.delete("/{project_id}", response_model=Envelope[dict],
               summary="Delete a project without queues (its API keys and clients are revoked)")
async def delete_project(project_id: uuid.UUID, ctx: Ctx, principal: CurrentPrincipal,
                         request_id: RequestId) -> Response:
    project = visible_project(ctx, principal, project_id)
    principal.require("project:admin")
    await ctx.queues.tail.catch_up()
    live_queues = len(ctx.queues.of_tenant(Tenant(organization_id=project.organization_id, project_id=project.id)))
    await ask_identity(ctx, DeleteProject(organization_id=project.organization_id, project_id=project.id,
                                          live_queues=live_queues), request_id, principal.subject)
    return success({}, request_id, message="Project deleted")
