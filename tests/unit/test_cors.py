"""CORS is off unless origins are configured; configured origins get their preflight answered.
(The CORS middleware answers preflights itself, so no broker is needed to see it.)"""

from __future__ import annotations

from pathlib import Path

import httpx

from api.app import create_app
from tests.support import scoped_settings

PREFLIGHT = {"Origin": "https://app.example.com", "Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "Authorization, Content-Type"}


async def preflight(tmp_path: Path, origins: list[str]) -> httpx.Response:
    app = create_app(scoped_settings(tmp_path, 19092, 19093, cors_origins=origins))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        return await client.options("/api/v1/jobs", headers=PREFLIGHT)


async def test_answers_expose_the_budget_headers_to_a_configured_origin(tmp_path: Path) -> None:
    app = create_app(scoped_settings(tmp_path, 19092, 19093, cors_origins=["https://app.example.com"]))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        response = await client.get("/health", headers={"Origin": "https://app.example.com"})
    assert response.headers["access-control-allow-origin"] == "https://app.example.com"
    assert "X-RateLimit-Remaining" in response.headers["access-control-expose-headers"]


async def test_a_configured_origin_gets_its_preflight_answered(tmp_path: Path) -> None:
    response = await preflight(tmp_path, ["https://app.example.com"])
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "https://app.example.com"
    assert "authorization" in response.headers["access-control-allow-headers"].lower()


async def test_without_configured_origins_there_is_no_cross_origin_access(tmp_path: Path) -> None:
    for origins in ([], ["https://other.example.com"]):
        response = await preflight(tmp_path, origins)
        assert "access-control-allow-origin" not in response.headers
