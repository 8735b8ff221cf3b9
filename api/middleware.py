"""One pure-ASGI middleware for what every request gets: a request id, size and
content-type limits, and the security headers of seed 000 §18.1.

Pure ASGI rather than ``BaseHTTPMiddleware``: it sits on the hot path of every call.
"""

from __future__ import annotations

import re
import time
import uuid

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.budgets import STATE_KEY
from api.envelope import error_body
from api.errors import unexpected_error_response
from api.prometheus import observe_request
from api.route_names import route_template

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_BODY_METHODS = {b"POST", b"PUT", b"PATCH"}
_DOCS_PATHS = ("/docs", "/redoc")
_JSON_ONLY = (b"application/json",)
_FORM_PATHS = {"/api/v1/oauth/token": (b"application/x-www-form-urlencoded", b"application/json")}
"""The OAuth2 token endpoint takes RFC 6749's form as well as JSON; every other body is JSON."""
_API_CSP = b"default-src 'none'; frame-ancestors 'self'"
_DOCS_CSP = (
    b"default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    b"style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; img-src 'self' data: https://fastapi.tiangolo.com; "
    b"frame-ancestors 'self'"
)
_SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"SAMEORIGIN"),
    (b"x-xss-protection", b"1; mode=block"),
    (b"referrer-policy", b"no-referrer"),
]


def _rate_limit_headers(scope: Scope) -> list[tuple[bytes, bytes]]:
    """The request's tightest budget, as the dependency that charged it left it (``api.budgets``)."""
    verdict = scope.get("state", {}).get(STATE_KEY)
    if verdict is None:
        return []
    return [(b"x-ratelimit-limit", str(verdict.limit).encode()),
            (b"x-ratelimit-remaining", str(verdict.remaining).encode()),
            (b"x-ratelimit-reset", str(verdict.reset_at).encode())]


class EdgeMiddleware:
    def __init__(self, app: ASGIApp, max_request_bytes: int) -> None:
        self.app = app
        self.max_request_bytes = max_request_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        offered = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = offered if _REQUEST_ID.match(offered) else str(uuid.uuid4())
        scope.setdefault("state", {})["request_id"] = request_id
        csp = _DOCS_CSP if scope["path"].startswith(_DOCS_PATHS) else _API_CSP
        started = False
        status = 500
        began = time.perf_counter()

        async def send_with_headers(message: Message) -> None:
            nonlocal started, status
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", []), *_SECURITY_HEADERS,
                    (b"content-security-policy", csp), (b"x-request-id", request_id.encode()),
                    *_rate_limit_headers(scope),
                ]
            await send(message)

        rejection = self._reject(scope, headers)
        if rejection is not None:
            status, code, text = rejection
            await send_with_headers(
                {"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]}
            )
            await send({"type": "http.response.body", "body": error_body(code, text, request_id)})
            return

        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_request_bytes:
                    raise HTTPException(413, f"the request body exceeds {self.max_request_bytes} bytes")
            return message

        try:
            await self.app(scope, counting_receive, send_with_headers)
        except Exception as exc:  # the last line of defence: Starlette's own 500 would skip these headers
            if started:
                raise
            await unexpected_error_response(request_id, exc)(scope, receive, send_with_headers)
        finally:
            observe_request(scope["method"], route_template(scope) or "unmatched", status, time.perf_counter() - began)

    def _reject(self, scope: Scope, headers: dict[bytes, bytes]) -> tuple[int, str, str] | None:
        """Refuse, before reading a byte of the body, what the headers already disqualify."""
        length = headers.get(b"content-length")
        if length is not None:
            if not length.isdigit():
                return 400, "VALIDATION_001", "Content-Length is not a number"
            if int(length) > self.max_request_bytes:
                return 413, "PAYLOAD_TOO_LARGE", f"the request body exceeds {self.max_request_bytes} bytes"
        has_body = (length is not None and length != b"0") or b"transfer-encoding" in headers
        if scope["method"].encode() in _BODY_METHODS and has_body and scope["path"].startswith("/api/"):
            media_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
            allowed = _FORM_PATHS.get(scope["path"], _JSON_ONLY)
            if media_type not in allowed:
                return 415, "UNSUPPORTED_MEDIA_TYPE", f"request bodies must be {' or '.join(m.decode() for m in allowed)}"
        return None
