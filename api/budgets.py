"""Which request budget a call draws on, and the login-failure limits.

Budgets per hour (``TASKFORGE_RATE_LIMIT_*``): requests without a valid credential count
against their IP address; authenticated ones against their credential, in three separate
budgets: reads (GET), writes, and the worker protocol with the batch routes, whose
default is high enough for the engine benchmark to run unthrottled on one key. An API key
can override each budget (``rate_limits`` at creation); ``TASKFORGE_RATE_LIMIT_ENDPOINTS``
adds per-route limits on top.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from starlette.requests import Request

from api.auth import Principal
from api.route_names import route_template
from api.ratelimit import SlidingWindowLimiter, Verdict
from taskforge.errors import RateLimited
from taskforge.settings import Settings

WORKER_ROUTES = frozenset({
    "/api/v1/workers/{worker_id}/lease", "/api/v1/workers/{worker_id}/heartbeat",
    "/api/v1/jobs/{job_id}/complete", "/api/v1/jobs/{job_id}/fail", "/api/v1/jobs/{job_id}/extend",
    "/api/v1/jobs/batch", "/api/v1/jobs/batch/complete", "/api/v1/jobs/batch/fail",
})
LOGIN_WINDOW_SECONDS = 900.0
STATE_KEY = "rate_limit"
"""Where the tightest verdict of a request is kept for the middleware's X-RateLimit-* headers."""


def budget_class(method: str, route_path: str) -> str:
    if route_path in WORKER_ROUTES:
        return "worker"
    return "read" if method in ("GET", "HEAD") else "write"


def route_of(request: Request) -> str:
    return route_template(request.scope) or request.url.path


@dataclass
class RequestBudgets:
    settings: Settings

    def __post_init__(self) -> None:
        self.requests = SlidingWindowLimiter()
        self.login_failures = SlidingWindowLimiter(window=LOGIN_WINDOW_SECONDS)
        self._trusted = [ipaddress.ip_network(p, strict=False) for p in self.settings.trusted_proxies]

    def client_ip(self, request: Request) -> str:
        """The peer, or behind a trusted proxy the nearest untrusted address of X-Forwarded-For."""
        peer = request.client.host if request.client else "unknown"
        forwarded = request.headers.get("x-forwarded-for")
        if not forwarded or not self._is_trusted(peer):
            return peer
        for hop in reversed([h.strip() for h in forwarded.split(",") if h.strip()]):
            if not self._is_trusted(hop):
                return hop
        return peer

    def _is_trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in self._trusted)

    def charge_ip(self, request: Request, now: float) -> None:
        verdict = self.requests.hit(("ip", self.client_ip(request)), self.settings.rate_limit_ip_per_hour, now)
        self._settle(request, [verdict], "requests from this address")

    def charge(self, request: Request, principal: Principal, now: float) -> None:
        path = route_of(request)
        kind = budget_class(request.method, path)
        limit = getattr(principal.budget, f"{kind}_per_hour") or getattr(self.settings, f"rate_limit_{kind}_per_hour")
        who = (principal.subject_kind, str(principal.subject_id))
        verdicts = [self.requests.hit((*who, kind), limit, now)]
        endpoint = f"{request.method} {path}"
        endpoint_limit = self.settings.rate_limit_endpoints.get(endpoint)
        if endpoint_limit is not None and verdicts[0].allowed:
            verdicts.append(self.requests.hit((*who, endpoint), endpoint_limit, now))
        self._settle(request, verdicts, f"{kind} requests of this credential")

    def _settle(self, request: Request, verdicts: list[Verdict], what: str) -> None:
        tightest = min(verdicts, key=lambda v: (v.allowed, v.remaining))
        setattr(request.state, STATE_KEY, tightest)
        if not tightest.allowed:
            raise RateLimited(f"rate limit exceeded: {tightest.limit} {what} per hour; retry in "
                              f"{tightest.retry_after} s", retry_after=tightest.retry_after)

    def check_login(self, request: Request, email: str, now: float) -> None:
        """Refuse a login attempt while its account or its address has failed too often lately."""
        for key, limit in self._login_keys(request, email):
            verdict = self.login_failures.peek(key, limit, now)
            if not verdict.allowed:
                raise RateLimited("too many failed logins; retry later", retry_after=verdict.retry_after)

    def login_failed(self, request: Request, email: str, now: float) -> None:
        for key, _limit in self._login_keys(request, email):
            self.login_failures.count(key, now)

    def _login_keys(self, request: Request, email: str) -> list[tuple[tuple[str, ...], int]]:
        return [(("account", email.casefold()), self.settings.login_failures_per_account),
                (("ip", self.client_ip(request)), self.settings.login_failures_per_ip)]
