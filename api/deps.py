"""FastAPI dependencies, as ``Annotated`` aliases the routers declare."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from api.auth import Principal
from api.context import AppContext


def get_context(request: Request) -> AppContext:
    return request.app.state.context


Ctx = Annotated[AppContext, Depends(get_context)]


def get_request_id(request: Request) -> str:
    return request.state.request_id


RequestId = Annotated[str, Depends(get_request_id)]


def get_principal(
    ctx: Ctx,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
    x_api_key: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Principal:
    return ctx.auth.authenticate(authorization, x_api_key)


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]
