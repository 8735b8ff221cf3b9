"""A worker of no-op jobs, for the engine benchmark (`taskforge worker benchmarks.noop_worker:worker`)."""

from __future__ import annotations

import os
from typing import Any

from taskforge_sdk import Worker


def worker() -> Worker:
    w = Worker(os.environ["TASKFORGE_URL"], os.environ["TASKFORGE_API_KEY"], queues=[os.environ["BENCH_QUEUE"]],
               concurrency=int(os.environ.get("BENCH_CONCURRENCY", "100")), lease_wait=2, heartbeat_interval=10,
               name=os.environ.get("BENCH_WORKER_NAME", "bench"))

    @w.task("noop")
    async def noop(payload: dict[str, Any]) -> None:
        return None

    return w
