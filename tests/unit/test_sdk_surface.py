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


def test_a_worker_never_asks_for_more_jobs_than_one_lease_call_allows() -> None:
    import asyncio

    from schemas.api.workers import LeaseRequest
    from taskforge_sdk.worker import MAX_LEASE_BATCH

    assert MAX_LEASE_BATCH == LeaseRequest.model_fields["max_jobs"].metadata[1].le

    async def reserve() -> int:
        worker = taskforge_sdk.Worker("http://127.0.0.1:1", "tf_x", queues=["q"], concurrency=250)
        worker._slots = asyncio.Condition()  # noqa: SLF001 - what run_async sets up
        return await worker._reserve()  # noqa: SLF001

    assert asyncio.run(reserve()) == MAX_LEASE_BATCH
