"""Signed access tokens (JWT, HS256): what they claim and how they are checked.

Every token carries ``exp``, ``iat``, ``jti``, ``iss`` and ``aud``, all verified; an
expired token is AUTH_002, anything else wrong AUTH_001. The secret comes from the
settings (required outside dev); in dev without one, a random per-process secret is
used, so tokens do not survive a restart.
"""

from __future__ import annotations

import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt

from schemas.identity import SubjectKind
from taskforge.errors import CredentialsExpired, Unauthenticated
from taskforge.settings import Settings

log = logging.getLogger(__name__)
_ALGORITHM = "HS256"


@dataclass(frozen=True)
class AccessClaims:
    subject_kind: SubjectKind
    subject_id: uuid.UUID
    organization_id: uuid.UUID
    scopes: frozenset[str]
    jti: uuid.UUID
    expires_at: datetime
    session_id: uuid.UUID | None


@dataclass(frozen=True)
class IssuedToken:
    token: str
    jti: uuid.UUID
    expires_at: datetime
    expires_in: int


class TokenSigner:
    def __init__(self, settings: Settings) -> None:
        if settings.jwt_secret is not None:
            self._secret = settings.jwt_secret.get_secret_value()
        else:
            log.warning("no TASKFORGE_JWT_SECRET in dev: tokens are signed with a random key of this process only")
            self._secret = secrets.token_urlsafe(48)
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        self._ttl = settings.access_token_ttl_seconds

    def issue(self, *, subject_kind: SubjectKind, subject_id: uuid.UUID, organization_id: uuid.UUID,
              scopes: frozenset[str] | tuple[str, ...], now: datetime, session_id: uuid.UUID | None) -> IssuedToken:
        jti = uuid.uuid4()
        expires_at = now + timedelta(seconds=self._ttl)
        claims = {
            "iss": self._issuer, "aud": self._audience, "sub": str(subject_id), "knd": subject_kind,
            "org": str(organization_id), "scope": " ".join(sorted(scopes)), "jti": str(jti),
            "iat": int(now.timestamp()), "exp": int(expires_at.timestamp()),
        }
        if session_id is not None:
            claims["sid"] = str(session_id)
        return IssuedToken(token=jwt.encode(claims, self._secret, algorithm=_ALGORITHM), jti=jti,
                           expires_at=expires_at, expires_in=self._ttl)

    def verify(self, token: str, now: datetime) -> AccessClaims:
        try:
            claims = jwt.decode(
                token, self._secret, algorithms=[_ALGORITHM], audience=self._audience, issuer=self._issuer,
                options={"require": ["exp", "iat", "jti", "iss", "aud", "sub"], "verify_exp": False},
            )
        except jwt.PyJWTError as exc:
            raise Unauthenticated("invalid token") from exc
        if claims["exp"] <= now.timestamp():  # against the injected clock, not the machine's
            raise CredentialsExpired("the token has expired; refresh it or log in again")
        try:
            return AccessClaims(
                subject_kind=claims["knd"], subject_id=uuid.UUID(claims["sub"]),
                organization_id=uuid.UUID(claims["org"]), scopes=frozenset(str(claims.get("scope", "")).split()),
                jti=uuid.UUID(claims["jti"]), expires_at=datetime.fromtimestamp(claims["exp"], tz=now.tzinfo),
                session_id=uuid.UUID(claims["sid"]) if claims.get("sid") else None,
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise Unauthenticated("invalid token") from exc
