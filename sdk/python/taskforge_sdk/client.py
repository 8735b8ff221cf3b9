"""A small async HTTP client for the TaskForge REST API."""

from __future__ import annotations

from typing import Any

import httpx


UNREACHABLE = "API_UNREACHABLE"
"""The code of an ``ApiError`` raised when the call did not complete (status 503): it may or may not have
reached the API, so only calls that are safe to repeat are repeated."""


class ApiError(Exception):
    """A TaskForge error envelope: ``status``, ``code`` (e.g. RESOURCE_CONFLICT), ``message``."""

    def __init__(self, status: int, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message, self.details = status, code, message, details or {}


class TaskForgeClient:
    def __init__(self, base_url: str, api_key: str, *, timeout: float = 30.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._http = httpx.AsyncClient(base_url=base_url.rstrip("/") + "/api/v1", timeout=timeout, transport=transport,
                                       headers={"Authorization": f"Bearer {api_key}"})

    async def close(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> TaskForgeClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def request(self, method: str, path: str, json: Any = None, timeout: float | None = None) -> Any:
        kwargs: dict[str, Any] = {"json": json}
        if timeout is not None:
            kwargs["timeout"] = timeout
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            # connect, read, write, timeout or protocol failures (a connection the server closed as it was
            # reused, for one): answered like a 503, which every caller retries or reports, instead of an
            # httpx error that the worker's loops did not expect and that ended them
            raise ApiError(503, UNREACHABLE, f"{method} {path}: {type(exc).__name__}: {exc}") from exc
        try:
            body = response.json()
        except ValueError as exc:  # not the API's envelope (a proxy's error page): keep its status
            status = response.status_code if response.status_code >= 400 else 502
            raise ApiError(status, "BAD_RESPONSE", response.text[:200]) from exc
        if response.status_code >= 400:
            error = body.get("error", {})
            raise ApiError(response.status_code, error.get("code", "HTTP_ERROR"), error.get("message", ""),
                           error.get("details"))
        return body.get("data")

    async def create_queue(self, name: str, **fields: Any) -> dict[str, Any]:
        return await self.request("POST", "/queues", {"name": name, **fields})

    async def submit(self, queue_name: str, job_type: str, payload: dict[str, Any] | None = None,
                     **fields: Any) -> dict[str, Any]:
        return await self.request("POST", "/jobs", {"queue_name": queue_name, "job_type": job_type,
                                                    "payload": payload or {}, **fields})

    async def submit_batch(self, jobs: list[dict[str, Any]]) -> dict[str, Any]:
        return await self.request("POST", "/jobs/batch", {"jobs": jobs})

    async def get_job(self, job_id: str) -> dict[str, Any]:
        return await self.request("GET", f"/jobs/{job_id}")
