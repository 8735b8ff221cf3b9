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


def test_a_poller_that_finds_its_free_slots_taken_waits_instead_of_asking_for_none() -> None:
    import asyncio

    async def race() -> tuple[int, int]:
        worker = taskforge_sdk.Worker("http://127.0.0.1:1", "tf_x", queues=["q"], concurrency=10)
        worker._slots = asyncio.Condition()  # noqa: SLF001 - what run_async sets up
        worker._lease_share = 5  # noqa: SLF001
        worker._in_flight = 8  # noqa: SLF001 - two free: both pollers wait briefly for a fair share
        first = asyncio.create_task(worker._reserve())  # noqa: SLF001
        second = asyncio.create_task(worker._reserve())  # noqa: SLF001
        taken = await first  # the two free slots; the second poller finds none left when its wait ends
        await asyncio.sleep(0.1)
        assert not second.done(), "the second poller must wait for a slot, not return zero"
        await worker._release(3)  # noqa: SLF001 - three jobs finish
        return taken, await asyncio.wait_for(second, 1)

    assert asyncio.run(race()) == (2, 3)


def test_a_call_that_does_not_complete_is_an_api_error_503() -> None:
    """Real sockets on loopback: nothing listening, and a server that closes each connection unanswered. Both
    were httpx errors before, which the worker's loops (they catch ApiError and OSError) did not expect:
    a poller, the heartbeat or the reporter that met one ended."""
    import asyncio
    import socket

    from taskforge_sdk.client import UNREACHABLE, ApiError, TaskForgeClient

    async def failure(base_url: str) -> ApiError:
        async with TaskForgeClient(base_url, "tf_x", timeout=5) as client:
            try:
                await client.request("POST", "/jobs/batch/complete", {"reports": []})
            except ApiError as exc:
                return exc
        raise AssertionError("the call succeeded")

    async def both() -> tuple[ApiError, ApiError]:
        with socket.socket() as probe:  # a port with nothing listening
            probe.bind(("127.0.0.1", 0))
            closed_port = probe.getsockname()[1]
        refused = await failure(f"http://127.0.0.1:{closed_port}")

        async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read(1)
            writer.close()

        server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
        async with server:
            port = server.sockets[0].getsockname()[1]
            dropped = await failure(f"http://127.0.0.1:{port}")
        return refused, dropped

    for error in asyncio.run(both()):
        assert error.status == 503 and error.code == UNREACHABLE and "/jobs/batch/complete" in error.message
