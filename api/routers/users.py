"""Users of an organization (seed 003 §1): the caller's own account, and admin management."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from api.auth import Principal
from api.context import AppContext
from api.deps import CurrentPrincipal, Ctx, RequestId
from api.envelope import success
from api.identity import ask_identity, user_view
from api.passwords import check_strength
from schemas.api.common import Envelope, Pagination
from schemas.api.identity import UserCreateRequest, UserList, UserUpdateRequest, UserView
from schemas.identity import CreateUser, DeleteUser, UpdateUser, UserRecord
from taskforge.errors import InvalidInput, NotFound, PermissionDenied, Unauthenticated

router = APIRouter(prefix="/users", tags=["users"])


def _me(ctx: AppContext, principal: Principal) -> UserRecord:
    if principal.subject_kind != "user":
        raise PermissionDenied("only a user's token has an account: API keys and clients have none")
    user = ctx.identity.registry.user_in(principal.organization_id, principal.subject_id)
    if user is None:
        raise Unauthenticated("this token's user no longer exists")
    return user


def _member(ctx: AppContext, principal: Principal, user_id: uuid.UUID) -> UserRecord:
    principal.require("org:admin")
    user = ctx.identity.registry.user_in(principal.organization_id, user_id)
    if user is None:
        raise NotFound(f"user {user_id} not found")
    return user


@router.get("/me", response_model=Envelope[UserView], summary="The caller's account")
async def get_me(ctx: Ctx, principal: CurrentPrincipal, request_id: RequestId) -> Response:
    return success(user_view(_me(ctx, principal)), request_id)


@router.put("/me", response_model=Envelope[UserView], summary="Change the caller's name, email or password")
async def update_me(body: UserUpdateRequest, ctx: Ctx, principal: CurrentPrincipal, request_id: RequestId) -> Response:
    me = _me(ctx, principal)
    password_hash = None
    if body.email is not None or body.password is not None:
        if body.current_password is None or not await ctx.passwords.verify(me.password_hash, body.current_password):
            raise InvalidInput("current_password is missing or wrong; it is required to change the email or password",
                               details={"errors": [{"field": "current_password", "message": "wrong or missing",
                                                    "type": "current_password"}]})
    if body.password is not None:
        check_strength(body.password, body.email or me.email)
        password_hash = await ctx.passwords.hash(body.password)
    await ask_identity(ctx, UpdateUser(organization_id=me.organization_id, user_id=me.id, email=body.email,
                                       name=body.name, password_hash=password_hash), request_id, principal.subject)
    return success(user_view(ctx.identity.registry.users[me.id]), request_id, message="User updated")


@router.delete("/me", response_model=Envelope[dict], summary="Delete the caller's account (not the last admin)")
async def delete_me(ctx: Ctx, principal: CurrentPrincipal, request_id: RequestId) -> Response:
    me = _me(ctx, principal)
    await ask_identity(ctx, DeleteUser(organization_id=me.organization_id, user_id=me.id), request_id,
                       principal.subject)
    return success({}, request_id, message="User deleted")


@router.get("", response_model=Envelope[UserList], summary="The organization's users (admin)")
async def list_users(ctx: Ctx, principal: CurrentPrincipal, request_id: RequestId,
                     page: Annotated[int, Query(ge=1, le=100_000)] = 1,
                     limit: Annotated[int, Query(ge=1, le=100)] = 10) -> Response:
    principal.require("org:admin")
    users = sorted((u for u in ctx.identity.registry.users.values() if u.organization_id == principal.organization_id),
                   key=lambda u: (u.created_at, u.email))
    shown, pagination = Pagination.slice(users, page, limit)
    return success(UserList(users=[user_view(u) for u in shown], pagination=pagination), request_id)


@router.post("", status_code=201, response_model=Envelope[UserView], summary="Add a user to the organization (admin)")
async def create_user(body: UserCreateRequest, ctx: Ctx, principal: CurrentPrincipal, request_id: RequestId) -> Response:
    principal.require("org:admin")
    check_strength(body.password, body.email)
    user_id = uuid.uuid4()
    await ask_identity(ctx, CreateUser(organization_id=principal.organization_id, user_id=user_id, email=body.email,
                                       name=body.name, role=body.role,
                                       password_hash=await ctx.passwords.hash(body.password)),
                       request_id, principal.subject)
    return success(user_view(ctx.identity.registry.users[user_id]), request_id, message="User created",
                   status_code=201)


@router.get("/{user_id}", response_model=Envelope[UserView], summary="One user of the organization (admin)")
async def get_user(user_id: uuid.UUID, ctx: Ctx, principal: CurrentPrincipal, request_id: RequestId) -> Response:
    return success(user_view(_member(ctx, principal, user_id)), request_id)


@router.delete("/{user_id}", response_model=Envelope[dict], summary="Remove a user (admin; not the last admin)")
async def delete_user(user_id: uuid.UUID, ctx: Ctx, principal: CurrentPrincipal, request_id: RequestId) -> Response:
    user = _member(ctx, principal, user_id)
    await ask_identity(ctx, DeleteUser(organization_id=user.organization_id, user_id=user.id), request_id,
                       principal.subject)
    return success({}, request_id, message="User deleted")
