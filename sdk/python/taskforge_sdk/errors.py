"""Exceptions a handler raises to tell the platform what a failure means."""

from __future__ import annotations


class NonRetryable(Exception):
    """The job cannot succeed by trying again (bad input, a permanent refusal): fail it now."""


class Retry(Exception):
    """Try again, after ``delay`` seconds instead of the queue's backoff (None: the backoff)."""

    def __init__(self, message: str = "retry requested", *, delay: float | None = None) -> None:
        super().__init__(message)
        self.delay = delay
