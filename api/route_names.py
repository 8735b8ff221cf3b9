"""A request's route template with its full prefix (``/api/v1/jobs/{job_id}``), for budgets and metrics.

FastAPI's included routers keep their routes' own paths (``/jobs/{job_id}``); the app records
the full template of each route when it includes them (``api.app``), and this looks it up.
"""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import APIRouter
from starlette.types import Scope

STATE_KEY = "route_templates"


def full_templates(prefix: str, routers: Iterable[APIRouter]) -> dict[int, str]:
    return {id(route): prefix + getattr(route, "path", "") for router in routers for route in router.routes}


def route_template(scope: Scope) -> str | None:
    route = scope.get("route")
    if route is None:
        return None
    app = scope.get("app")
    templates = getattr(getattr(app, "state", None), STATE_KEY, {}) if app is not None else {}
    return templates.get(id(route), getattr(route, "path", None))
