"""The SDK's public surface is small and deliberate: changing it should be a decision, seen in review."""

from __future__ import annotations

import inspect

import taskforge_sdk


def test_the_public_names_are_pinned() -> None:
    assert sorted(taskforge_sdk.__all__) == [
        "ApiError", "JobContext", "NonRetryable", "Retry", "TaskForgeClient", "Worker", "current_job"]


def test_the_worker_constructor_is_pinned() -> None:
    parameters = list(inspect.signature(taskforge_sdk.Worker).parameters)
    assert parameters == ["base_url", "api_key", "queues", "concurrency", "name", "worker_type",
                          "heartbeat_interval", "lease_wait", "grace_period", "transport"]


def test_retry_carries_its_delay() -> None:
    assert taskforge_sdk.Retry("later", delay=2.5).delay == 2.5
    assert taskforge_sdk.Retry().delay is None
    assert issubclass(taskforge_sdk.NonRetryable, Exception)
