"""Handlers for the SDK's integration tests, loadable by `taskforge worker tests.sdk_handlers:worker`."""

from __future__ import annotations

import os
import time
from typing import Any

from taskforge_sdk import Worker, current_job


def worker() -> Worker:
    w = Worker(os.environ["TASKFORGE_URL"], os.environ["TASKFORGE_API_KEY"], queues=[os.environ["TEST_QUEUE"]],
               concurrency=2, name=os.environ.get("TEST_WORKER_NAME", "test-worker"), lease_wait=2,
               heartbeat_interval=2)

    @w.task("slow_first_time")
    def slow_first_time(payload: dict[str, Any]) -> dict[str, Any]:
        if current_job().attempt == 1:
            time.sleep(600)  # killed long before this ends
        return {"attempt": current_job().attempt, "worker": os.environ.get("TEST_WORKER_NAME")}

    return w
