"""FastAPI dependencies, as ``Annotated`` aliases the routers declare.

Every dependency is ``async def``, even those that do not await: FastAPI runs a plain ``def``
dependency in a worker thread, and a thread hop per dependency per request costs more than the
work (and waits for the GIL behind ClickHouse's threads, which is where request latency's tail
came from).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from api.auth import Principal, credential_of
from api.context import AppContext
from taskforge.errors import Unauthenticated


async def get_context(request: Request) -> AppContext:
    return request.app.state.context


Ctx = Annotated[AppContext, Depends(get_context)]


async def get_request_id(request: Request) -> str:
    return request.state.request_id


RequestId = Annotated[str, Depends(get_request_id)]

# Declared as security schemes so that OpenAPI (and Swagger UI's "Authorize") shows both ways in.
_bearer = HTTPBearer(auto_error=False, description="An access token (JWT) or an API key (tf_...).")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key (tf_...).")


async def get_principal(
    request: Request,
    ctx: Ctx,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key)],
    x_project_id: Annotated[str | None, Header(
        description="The project a user's token acts on (default: the organization's default project). "
        "API keys and OAuth2 clients act on their own project.")] = None,
) -> Principal:
    """Authenticate, then charge the request to the credential's budget (or, failing, to the IP's)."""
    now = ctx.clock.now()
    authorization = request.headers.get("authorization") if bearer is None else f"Bearer {bearer.credentials}"
    try:
        principal = await ctx.auth.authenticate(credential_of(authorization, api_key), x_project_id, now)
    except Unauthenticated:
        ctx.budgets.charge_ip(request, now.timestamp())  # guessing credentials spends the address's budget
        raise
    ctx.budgets.charge(request, principal, now.timestamp())
    return principal


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


async def charge_public(request: Request, ctx: Ctx) -> None:
    """Routes open without credentials (register, login, token) draw on the caller's IP budget."""
    ctx.budgets.charge_ip(request, ctx.clock.now().timestamp())


PublicCall = Annotated[None, Depends(charge_public)]
