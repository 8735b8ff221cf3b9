"""Run handlers for leased jobs.

``Worker`` registers (with exactly the job types it has handlers for), long-polls each of
its queues for as many jobs as it has free slots, runs every job (async handlers on the
loop, sync ones in a thread), extends a lease when a handler runs past half of it,
reports the outcome, and heartbeats in the background. ``stop()`` (SIGTERM, SIGINT) stops
leasing, lets running jobs finish within ``grace_period``, and deregisters.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import logging
import signal
import socket
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from taskforge_sdk.client import ApiError, TaskForgeClient
from taskforge_sdk.errors import NonRetryable, Retry

log = logging.getLogger("taskforge_sdk.worker")
Handler = Callable[[dict[str, Any]], Any] | Callable[[dict[str, Any]], Awaitable[Any]]
_MAX_ERROR_CHARS = 8_000
MAX_LEASE_BATCH = 100  # the API's limit for one lease call
LEASE_GATHER = 0.02  # seconds a poller waits for more free slots before leasing only a few
LEASE_CHECK_INTERVAL = 0.2  # seconds between the lease keeper's looks at the running jobs' leases
REPORT_LINGER = 0.005  # seconds the reporter gathers outcomes before sending them in one call
MAX_REPORT_BATCH = 1_000
_REPORT_ATTEMPTS = 6


@dataclass(frozen=True)
class JobContext:
    """The job a handler is running: available through ``current_job()``."""

    id: str
    queue_name: str
    job_type: str
    attempt: int
    max_attempts: int
    lease_id: str
    lease_deadline: datetime


_current: contextvars.ContextVar[JobContext] = contextvars.ContextVar("taskforge_current_job")


@dataclass
class _HeldLease:
    """A running job's lease, as the lease keeper extends it (times from ``time.time()``)."""

    context: JobContext
    length: int  # seconds: each extension asks for the lease's original length again
    deadline: float
    extend_at: float
    extending: bool = False


def current_job() -> JobContext:
    return _current.get()


class Worker:
    def __init__(self, base_url: str, api_key: str, queues: list[str], *, concurrency: int = 10,
                 name: str | None = None, worker_type: str = "python", heartbeat_interval: int = 10,
                 lease_wait: float = 10.0, grace_period: float = 30.0, transport: Any = None) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.queues = list(queues)
        self.concurrency = concurrency
        self.name = name or f"{socket.gethostname()}-{id(self):x}"
        self.worker_type = worker_type
        self.heartbeat_interval = heartbeat_interval
        self.lease_wait = lease_wait
        self.grace_period = grace_period
        self._client = TaskForgeClient(base_url, api_key, transport=transport)
        self._handlers: dict[str, Handler] = {}
        self._in_flight = 0  # jobs running plus slots reserved by a lease call in progress
        self._lease_share = 1  # set from the pollers at start
        self._slots: asyncio.Condition | None = None
        self._running: set[asyncio.Task[None]] = set()
        self._held: dict[str, _HeldLease] = {}  # the running jobs' leases, by job id
        self._extending: set[asyncio.Task[None]] = set()
        self._stopping: asyncio.Event | None = None
        self._outbox: dict[str, list[tuple[JobContext, dict[str, Any], asyncio.Future[None]]]] = {
            "complete": [], "fail": []}
        self._outbox_filled: asyncio.Event | None = None
        self.worker_id: str | None = None
        self.completed = 0
        self.failed = 0

    def task(self, job_type: str) -> Callable[[Handler], Handler]:
        """Decorator: ``fn`` handles jobs of ``job_type``; it gets the payload and returns the output."""

        def register(fn: Handler) -> Handler:
            self._handlers[job_type] = fn
            return fn

        return register

    # --- life -----------------------------------------------------------------------------

    def run(self) -> None:
        """Run until SIGTERM or SIGINT, then stop gracefully."""
        asyncio.run(self._run_with_signals())

    async def _run_with_signals(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop)
        await self.run_async()

    def stop(self) -> None:
        if self._stopping is not None:
            self._stopping.set()

    async def run_async(self) -> None:
        if not self._handlers:
            raise RuntimeError("no handlers: decorate functions with @worker.task('job_type')")
        self._stopping = asyncio.Event()
        self._slots = asyncio.Condition()
        self._outbox_filled = asyncio.Event()
        registered = await self._client.request("POST", "/workers", {
            "name": self.name, "worker_type": self.worker_type, "queues": self.queues,
            "job_types": sorted(self._handlers), "max_concurrent_jobs": self.concurrency,
            "heartbeat_interval_seconds": self.heartbeat_interval,
        })
        self.worker_id = registered["id"]
        log.info("worker %s (%s) registered for %s", self.name, self.worker_id, ", ".join(self.queues))
        reporter = asyncio.create_task(self._reporter())
        per_queue = -(-self.concurrency // MAX_LEASE_BATCH)  # enough long-polls to fill every slot at once
        # a poller leases when a fair share of the slots is free, not one slot at a time: a busy worker whose
        # slots free up one by one would otherwise send one lease call per finished job
        self._lease_share = max(1, min(MAX_LEASE_BATCH, self.concurrency // (2 * per_queue * len(self.queues))))
        pollers = [asyncio.create_task(self._poll(queue)) for queue in self.queues for _ in range(per_queue)]
        beats = asyncio.create_task(self._heartbeat())
        keeper = asyncio.create_task(self._keep_leases())
        await self._stopping.wait()
        log.info("worker %s stopping: no new leases, %d jobs to finish", self.name, len(self._running))
        for poller in pollers:
            poller.cancel()
        await asyncio.gather(*pollers, return_exceptions=True)
        if self._running:
            await asyncio.wait(self._running, timeout=self.grace_period)
        beats.cancel()
        reporter.cancel()
        keeper.cancel()
        await asyncio.gather(beats, reporter, keeper, *self._extending, return_exceptions=True)
        try:
            await self._client.request("DELETE", f"/workers/{self.worker_id}")
        except (ApiError, OSError) as exc:
            log.warning("deregistering failed: %s", exc)
        await self._client.close()

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_interval)
            try:
                await self._client.request("POST", f"/workers/{self.worker_id}/heartbeat")
            except (ApiError, OSError) as exc:
                log.warning("heartbeat failed: %s", exc)

    # --- leasing --------------------------------------------------------------------------

    async def _reserve(self) -> int:
        """Wait for a free slot (briefly, for a fair share of them), then reserve every free one for a lease call."""
        assert self._slots is not None
        async with self._slots:
            while True:
                await self._slots.wait_for(lambda: self._in_flight < self.concurrency)
                if self._in_flight and self.concurrency - self._in_flight < self._lease_share:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._slots.wait_for(
                            lambda: self.concurrency - self._in_flight >= self._lease_share), LEASE_GATHER)
                # another poller may have taken the free slots while this one waited for more: then wait again,
                # rather than ask for zero jobs (the API refuses max_jobs=0 with a 422)
                free = min(self.concurrency - self._in_flight, MAX_LEASE_BATCH)
                if free > 0:
                    self._in_flight += free
                    return free

    async def _release(self, count: int) -> None:
        """Free ``count`` slots. Pollers are woken only when one of them can act on it: the first free slot
        (they wait for one), or a fair share free (one may be gathering for it; it stops gathering after
        ``LEASE_GATHER`` anyway). Waking every poller (ten per thousand slots) at each finished job made each
        re-check its condition for nothing."""
        assert self._slots is not None
        if count > 0:
            async with self._slots:
                free_before = self.concurrency - self._in_flight
                self._in_flight -= count
                if free_before == 0 or self.concurrency - self._in_flight >= self._lease_share:
                    self._slots.notify_all()

    async def _poll(self, queue: str) -> None:
        backoff = 0.5
        while True:
            free = await self._reserve()
            try:
                jobs = await self._client.request(
                    "POST", f"/workers/{self.worker_id}/lease",
                    {"max_jobs": free, "wait_seconds": self.lease_wait, "queue": queue},
                    timeout=self.lease_wait + 30,
                )
                backoff = 0.5
            except (ApiError, OSError) as exc:
                await self._release(free)
                log.warning("lease from %s failed: %s; retrying in %.1fs", queue, exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10)
                continue
            leased = jobs["jobs"]
            await self._release(free - len(leased))
            for job in leased:
                task = asyncio.create_task(self._execute(job))
                self._running.add(task)
                task.add_done_callback(self._running.discard)

    async def _execute(self, job: dict[str, Any]) -> None:
        context = JobContext(id=job["id"], queue_name=job["queue_name"], job_type=job["job_type"],
                             attempt=job["attempt"], max_attempts=job["max_attempts"], lease_id=job["lease_id"],
                             lease_deadline=datetime.fromisoformat(job["lease_deadline"].replace("Z", "+00:00")))
        self._hold(context)
        started = time.perf_counter()
        released = False

        async def free_slot() -> None:
            """The handler is done: its slot takes new work while the outcome is being reported."""
            nonlocal released
            if not released:
                released = True
                await self._release(1)

        try:
            handler = self._handlers.get(context.job_type)
            if handler is None:
                raise NonRetryable(f"this worker has no handler for {context.job_type!r}")
            token = _current.set(context)
            try:
                if inspect.iscoroutinefunction(handler):
                    output = await handler(job["payload"])
                else:
                    output = await asyncio.to_thread(contextvars.copy_context().run, handler, job["payload"])
            finally:
                _current.reset(token)
            await free_slot()
            await self._report(context, "complete", {"output": output,
                                                     "duration_ms": int((time.perf_counter() - started) * 1000)})
            self.completed += 1
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a handler's failure is reported, never lost
            self.failed += 1
            body: dict[str, Any] = {
                "error_message": _error_text(exc), "error_type": type(exc).__name__,
                "retryable": not isinstance(exc, NonRetryable),
            }
            if isinstance(exc, Retry) and exc.delay is not None:
                body["retry_delay_seconds"] = exc.delay
            await free_slot()
            await self._report(context, "fail", body)
        finally:
            self._held.pop(context.id, None)
            await free_slot()

    def _hold(self, context: JobContext) -> None:
        """Keep the job's lease alive while its handler runs: extended by its original length whenever half of
        what is left has passed. One keeper looks at every running job a few times a second, instead of a
        task per job: most jobs end long before their first extension. With the wake-ups above, the engine
        bench's two workers of 1,000 slots went from 14% to 11-12% of a core at the same rates
        (docs/figures.md, runs 158-163)."""
        now = time.time()
        deadline = context.lease_deadline.timestamp()
        self._held[context.id] = _HeldLease(context=context, length=max(1, int(deadline - now)), deadline=deadline,
                                            extend_at=now + max(0.2, (deadline - now) / 2))

    async def _keep_leases(self) -> None:
        while True:
            await asyncio.sleep(LEASE_CHECK_INTERVAL)
            now = time.time()
            for held in self._held.values():
                if not held.extending and now >= held.extend_at:
                    held.extending = True
                    task = asyncio.create_task(self._extend(held))
                    self._extending.add(task)
                    task.add_done_callback(self._extending.discard)

    async def _extend(self, held: _HeldLease) -> None:
        context = held.context
        try:
            await self._client.request("POST", f"/jobs/{context.id}/extend",
                                       {"lease_id": context.lease_id, "seconds": held.length})
            held.deadline = time.time() + held.length
        except (ApiError, OSError) as exc:
            log.warning("extending the lease of job %s failed: %s", context.id, exc)
            if isinstance(exc, ApiError) and exc.status == 409:
                held.extend_at = float("inf")  # the lease is gone: the report will be refused too
                return
        finally:
            held.extending = False
        now = time.time()
        held.extend_at = now + max(0.2, (held.deadline - now) / 2)

    async def _report(self, context: JobContext, kind: str, body: dict[str, Any]) -> None:
        """Hand an outcome to the reporter and wait until the platform has it (or it cannot be delivered)."""
        assert self._outbox_filled is not None
        settled: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._outbox[kind].append((context, body, settled))
        self._outbox_filled.set()
        await settled

    async def _reporter(self) -> None:
        """Send outcomes in batches (POST /jobs/batch/complete|fail): one call for many jobs."""
        assert self._outbox_filled is not None
        while True:
            await self._outbox_filled.wait()
            await asyncio.sleep(REPORT_LINGER)
            self._outbox_filled.clear()
            for kind in ("complete", "fail"):
                items, self._outbox[kind] = self._outbox[kind], []
                for start in range(0, len(items), MAX_REPORT_BATCH):
                    asyncio.create_task(self._send_reports(kind, items[start:start + MAX_REPORT_BATCH], 0))

    async def _send_reports(self, kind: str, items: list[tuple[JobContext, dict[str, Any], asyncio.Future[None]]],
                            attempt: int) -> None:
        body = {"reports": [{"job_id": c.id, "lease_id": c.lease_id, **b} for c, b, _ in items]}
        retry: list[tuple[JobContext, dict[str, Any], asyncio.Future[None]]] = []
        try:
            result = await self._client.request("POST", f"/jobs/batch/{kind}", body)
            outcomes = [(item, r["status"], (r.get("error") or {}).get("message", "")) for item, r in
                        zip(items, result["results"], strict=True)]
        except (ApiError, OSError) as exc:
            if isinstance(exc, ApiError) and exc.status < 500:
                outcomes = [(item, exc.status, exc.message) for item in items]
            else:
                outcomes = [(item, 503, str(exc)) for item in items]
        for item, status, message in outcomes:
            context, _, settled = item
            if status >= 500 and attempt + 1 < _REPORT_ATTEMPTS:
                retry.append(item)  # a repeated report is harmless: the owner accepts it once
                continue
            if status == 409:
                log.warning("job %s: %s refused, the lease is no longer ours (%s)", context.id, kind, message)
            elif status >= 400:
                log.error("job %s: %s not recorded (%s %s); the lease will expire and the job be retried",
                          context.id, kind, status, message)
            if not settled.done():
                settled.set_result(None)
        if retry:
            await asyncio.sleep(0.5 * 2 ** attempt)
            await self._send_reports(kind, retry, attempt + 1)


def _error_text(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}\n" + "".join(traceback.format_exception(exc))
    return text[:_MAX_ERROR_CHARS]
