"""The one error root of TaskForge.

Adapters translate Kafka and ClickHouse failures into these few named errors; domain
modules raise the typed ones; only ``api.errors`` turns them into HTTP answers, in one
table. Nothing inspects an exception's message.
"""

from __future__ import annotations

from typing import Any


class TaskForgeError(Exception):
    """Base of every error TaskForge raises on purpose."""

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class Unauthenticated(TaskForgeError):
    """No credentials, or credentials that do not identify anyone."""


class CredentialsExpired(Unauthenticated):
    """Credentials that were valid once and are not any more."""


class PermissionDenied(TaskForgeError):
    """Authenticated, but the principal lacks the scope for this action."""


class NotFound(TaskForgeError):
    """The resource does not exist for this caller (another tenant's resource included)."""


class Conflict(TaskForgeError):
    """The request contradicts the current state (duplicate name, illegal transition)."""


class InvalidInput(TaskForgeError):
    """Input that is well-formed but refers to something that does not fit."""


class PayloadTooLarge(TaskForgeError):
    """A body or a job payload over its configured limit."""


class EventLogUnavailable(TaskForgeError):
    """Kafka did not acknowledge a write in time; nothing was recorded."""


class ReadModelUnavailable(TaskForgeError):
    """ClickHouse could not answer a query."""
