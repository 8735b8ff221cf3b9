"""Every body the API sends is one of two envelopes (seed 000 §2.3, §2.4), encoded with orjson."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import BaseModel
from starlette.responses import Response

_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC  # ClickHouse hands back UTC times without tzinfo


def _jsonable(value: Any) -> Any:
    return value.model_dump() if isinstance(value, BaseModel) else value


def render(content: dict[str, Any]) -> bytes:
    return orjson.dumps(content, option=_OPTIONS)


def now_utc() -> datetime:
    return datetime.now(UTC)


def success(
    data: Any, request_id: str, *, message: str | None = None, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    body = {
        "success": True,
        "data": _jsonable(data),
        "message": message,
        "timestamp": now_utc(),
        "request_id": request_id,
    }
    return Response(render(body), status_code=status_code, media_type="application/json", headers=headers)


def error_body(code: str, message: str, request_id: str, details: dict[str, Any] | None = None) -> bytes:
    return render(
        {
            "success": False,
            "error": {"code": code, "message": message, "details": details or {}},
            "timestamp": now_utc(),
            "request_id": request_id,
        }
    )


def failure(
    status_code: int, code: str, message: str, request_id: str, *, details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    return Response(
        error_body(code, message, request_id, details), status_code=status_code, media_type="application/json",
        headers=headers,
    )
