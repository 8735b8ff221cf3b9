"""The one table from errors to HTTP answers. Nothing else in the code base builds an error response.

Seed 000 §12.1 names the codes; the few it lacks (405, 413, 415, 503, 500) get names in
the same style, listed in the README.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from api.envelope import failure
from taskforge import errors
from taskforge.errors import validation_details

log = logging.getLogger(__name__)

# Most specific first: the first matching class wins.
ERROR_TABLE: list[tuple[type[errors.TaskForgeError], int, str]] = [
    (errors.CredentialsExpired, 401, "AUTH_002"),
    (errors.Unauthenticated, 401, "AUTH_001"),
    (errors.PermissionDenied, 403, "PERM_001"),
    (errors.NotFound, 404, "RESOURCE_NOT_FOUND"),
    (errors.Conflict, 409, "RESOURCE_CONFLICT"),
    (errors.PayloadTooLarge, 413, "PAYLOAD_TOO_LARGE"),
    (errors.RateLimited, 429, "RATE_LIMIT_EXCEEDED"),
    (errors.InvalidInput, 422, "VALIDATION_001"),
    (errors.EventLogUnavailable, 503, "SERVICE_UNAVAILABLE"),
    (errors.ReadModelUnavailable, 503, "SERVICE_UNAVAILABLE"),
]
_HTTP_CODES = {
    400: "VALIDATION_001",
    401: "AUTH_001",
    403: "PERM_001",
    404: "RESOURCE_NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "RESOURCE_CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    429: "RATE_LIMIT_EXCEEDED",
}


def request_id_of(request: Request) -> str:
    return getattr(request.state, "request_id", "") or ""


def _headers_for(status: int) -> dict[str, str] | None:
    if status == 401:
        return {"WWW-Authenticate": "Bearer"}
    if status == 503:
        return {"Retry-After": "1"}
    return None


def status_and_code(exc: errors.TaskForgeError) -> tuple[int, str]:
    """The table's answer for an error; also used for the per-item answers of batch routes."""
    for cls, status, code in ERROR_TABLE:
        if isinstance(exc, cls):
            return status, code
    return 500, "INTERNAL_ERROR"


async def _taskforge_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, errors.TaskForgeError)
    status, code = status_and_code(exc)
    if status == 500:
        return await _unexpected(request, exc)
    if status >= 500:
        log.warning("request %s: %s", request_id_of(request), exc.message)
    headers = _headers_for(status)
    if isinstance(exc, errors.RateLimited):
        headers = {"Retry-After": str(exc.retry_after)}
    return failure(status, code, exc.message, request_id_of(request), details=exc.details, headers=headers)


async def _request_validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = validation_details(exc.errors())
    if any(p["type"] == "json_invalid" for p in problems):
        return failure(400, "VALIDATION_001", "the request body is not valid JSON", request_id_of(request),
                       details={"errors": problems})
    summary = "; ".join(f"{p['field']}: {p['message']}" for p in problems[:5])
    return failure(422, "VALIDATION_001", f"invalid request: {summary}", request_id_of(request),
                   details={"errors": problems})


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "HTTP_ERROR")
    message = {404: f"no route {request.url.path}", 405: f"{request.method} is not allowed on {request.url.path}"}.get(
        exc.status_code, str(exc.detail)
    )
    headers = dict(exc.headers or {})
    headers.update(_headers_for(exc.status_code) or {})
    return failure(exc.status_code, code, message, request_id_of(request), headers=headers or None)


def unexpected_error_response(request_id: str, exc: BaseException) -> Response:
    """A bug: logged with its traceback, answered without internals."""
    log.error("request %s failed unexpectedly", request_id, exc_info=exc)
    return failure(500, "INTERNAL_ERROR", "an unexpected error occurred; quote the request_id when reporting it",
                   request_id)


async def _unexpected(request: Request, exc: Exception) -> Response:
    return unexpected_error_response(request_id_of(request), exc)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(errors.TaskForgeError, _taskforge_error)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(StarletteHTTPException, _http_error)
