"""Who is calling. For now one bootstrap API key maps to one tenant (the seam the
identity issue replaces); the principal's tenant is the only tenant a request touches.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from schemas.envelope import Tenant
from taskforge.errors import PermissionDenied, Unauthenticated
from taskforge.settings import Settings

ALL_SCOPES = frozenset({"job:read", "job:write", "queue:read", "queue:write", "worker:read", "worker:write",
                        "project:admin"})


@dataclass(frozen=True)
class Principal:
    tenant: Tenant
    subject: str
    scopes: frozenset[str]

    def require(self, scope: str) -> None:
        if scope not in self.scopes:
            raise PermissionDenied(f"this credential lacks the {scope!r} permission")


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


class Authenticator:
    """Resolves a bearer credential to a principal. Only the key's hash is held in memory."""

    def __init__(self, settings: Settings) -> None:
        key = settings.bootstrap_api_key
        self._bootstrap_digest = _digest(key.get_secret_value()) if key is not None else None
        self._bootstrap_principal = Principal(
            tenant=Tenant(organization_id=settings.bootstrap_organization_id, project_id=settings.bootstrap_project_id),
            subject=f"api_key:{key.get_secret_value()[:7]}" if key is not None else "",
            scopes=ALL_SCOPES,
        )

    def authenticate(self, authorization: str | None, api_key_header: str | None) -> Principal:
        credential = api_key_header
        if credential is None and authorization:
            scheme, _, value = authorization.partition(" ")
            if scheme.lower() != "bearer" or not value.strip():
                raise Unauthenticated("Authorization must be 'Bearer <token>'")
            credential = value.strip()
        if not credential:
            raise Unauthenticated("missing credentials: send 'Authorization: Bearer <token>'")
        if self._bootstrap_digest is not None and hmac.compare_digest(_digest(credential), self._bootstrap_digest):
            return self._bootstrap_principal
        raise Unauthenticated("invalid token")
