"""Passwords: argon2id hashes (argon2-cffi, RFC 9106 parameters) and the strength rules.

Hashing is deliberately slow and memory-hard, so it runs in a thread and at most a few at a
time: a burst of logins must not take the process's memory or its event loop.
"""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from taskforge.errors import InvalidInput
from taskforge.settings import Settings

MIN_LENGTH = 10
MAX_LENGTH = 256


def check_strength(password: str, email: str | None = None) -> None:
    """The minimum rules: long enough, not trivially repetitive, several kinds of character, not the email."""
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(f"at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        problems.append(f"at most {MAX_LENGTH} characters")
    kinds = sum((any(c.islower() for c in password), any(c.isupper() for c in password),
                 any(c.isdigit() for c in password), any(not c.isalnum() for c in password)))
    if kinds < 2:
        problems.append("at least two of: lower-case letters, upper-case letters, digits, symbols")
    if len(set(password)) < 5:
        problems.append("at least 5 different characters")
    if email and email.split("@")[0].casefold() in password.casefold() and len(email.split("@")[0]) >= 3:
        problems.append("not containing the email address")
    if problems:
        raise InvalidInput("password too weak: it needs " + "; ".join(problems),
                           details={"errors": [{"field": "password", "message": p, "type": "password_strength"}
                                               for p in problems]})


class PasswordHashing:
    def __init__(self, settings: Settings) -> None:
        self._hasher = PasswordHasher(time_cost=settings.password_hash_time_cost,
                                      memory_cost=settings.password_hash_memory_kib, parallelism=1)
        self._slots = asyncio.Semaphore(settings.password_hash_concurrency)
        # verified against when the email is unknown, so that the answer takes as long either way
        self._decoy = self._hasher.hash("decoy password that nobody has")

    async def hash(self, password: str) -> str:
        async with self._slots:
            return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, stored_hash: str | None, password: str) -> bool:
        async with self._slots:
            return await asyncio.to_thread(self._verify, stored_hash, password)

    def _verify(self, stored_hash: str | None, password: str) -> bool:
        try:
            self._hasher.verify(stored_hash or self._decoy, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        return stored_hash is not None
