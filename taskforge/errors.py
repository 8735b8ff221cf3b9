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


def validation_details(problems: Any, prefix: str = "") -> list[dict[str, Any]]:
    """Pydantic's error list as the envelope's ``details.errors``: field (under ``prefix``), message, type."""
    details = []
    for e in problems:
        field = ".".join(str(p) for p in e.get("loc", ()) if p != "body")
        details.append({"field": ".".join(part for part in (prefix, field) if part) or "body",
                        "message": e.get("msg", ""), "type": e.get("type", "")})
    return details


def invalid_input(what: str, problems: Any, prefix: str = "") -> InvalidInput:
    """One ``InvalidInput`` for a failed validation: the first problems in the message, all in the details."""
    details = validation_details(problems, prefix)
    summary = "; ".join(f"{d['field']}: {d['message']}" for d in details[:5])
    return InvalidInput(f"invalid {what}: {summary}", details={"errors": details})


class RateLimited(TaskForgeError):
    """Over a request budget; ``retry_after`` says in how many seconds one more request fits."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, details={"retry_after": retry_after})
        self.retry_after = retry_after


def check_time_filter(name: str, value: Any) -> None:
    """A time given as a query filter: with a time zone, and within what the read model's DateTime64 holds
    (1970-2299), so that a far-off year is refused here rather than failing in ClickHouse."""
    from datetime import UTC, datetime

    if value is None:
        return
    if value.tzinfo is None:
        raise InvalidInput(f"{name} needs a time zone (e.g. 2026-01-01T00:00:00Z)", details={"field": name})
    if not datetime(1970, 1, 1, tzinfo=UTC) <= value <= datetime(2299, 12, 31, tzinfo=UTC):
        raise InvalidInput(f"{name} must lie between 1970 and 2299", details={"field": name})


class PayloadTooLarge(TaskForgeError):
    """A body or a job payload over its configured limit."""


class DecisionFailed(TaskForgeError):
    """An owner failed to decide a command: a fault in TaskForge, logged with its traceback where it happened.
    Nothing changed; the answer is a 500, not in the error table."""


class EventLogUnavailable(TaskForgeError):
    """Kafka did not acknowledge a write in time; nothing was recorded."""


class ReadModelUnavailable(TaskForgeError):
    """ClickHouse could not answer a query."""
