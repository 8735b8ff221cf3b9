"""The secrets TaskForge hands out, and their digests at rest.

API keys, OAuth2 client secrets and refresh tokens are 256-bit random strings, so a
single SHA-256 is the right digest for them: no dictionary can guess one, and the check
costs a microsecond on every request. Passwords are chosen by people and get argon2id
instead (``api.passwords``).
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass

from taskforge.errors import Unauthenticated

API_KEY_PREFIX = "tf_"
CLIENT_SECRET_PREFIX = "tfs_"
REFRESH_TOKEN_PREFIX = "tfr_"
SHOWN_PREFIX_LENGTH = 11
"""How much of a key ``GET /api-keys`` shows: ``tf_`` and 8 characters, enough to recognise it."""


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedSecret:
    value: str
    """Shown once, to the caller who asked for it; never stored."""
    prefix: str
    digest: str


def _issue(prefix: str) -> IssuedSecret:
    value = prefix + secrets.token_urlsafe(32)  # 43 characters of 256 random bits
    return IssuedSecret(value=value, prefix=value[:SHOWN_PREFIX_LENGTH], digest=digest(value))


def new_api_key() -> IssuedSecret:
    return _issue(API_KEY_PREFIX)


def new_client_secret() -> IssuedSecret:
    return _issue(CLIENT_SECRET_PREFIX)


def new_refresh_token(session_id: uuid.UUID) -> IssuedSecret:
    """``tfr_<session id>_<random>``: the session id routes the refresh to its family."""
    value = f"{REFRESH_TOKEN_PREFIX}{session_id.hex}_{secrets.token_urlsafe(32)}"
    return IssuedSecret(value=value, prefix=value[:SHOWN_PREFIX_LENGTH], digest=digest(value))


def parse_refresh_token(token: str) -> tuple[uuid.UUID, str]:
    """The session a refresh token belongs to, and the token's digest; AUTH_001 for anything else."""
    if not token.startswith(REFRESH_TOKEN_PREFIX) or len(token) > 200:
        raise Unauthenticated("invalid refresh token")
    session_hex, _, rest = token[len(REFRESH_TOKEN_PREFIX):].partition("_")
    try:
        session_id = uuid.UUID(hex=session_hex)
    except ValueError as exc:
        raise Unauthenticated("invalid refresh token") from exc
    if not rest:
        raise Unauthenticated("invalid refresh token")
    return session_id, digest(token)
