"""The demo worker `taskforge dev` starts, so that a submitted job actually runs.

Try: submit to queue ``demo`` a job of type ``send_email``, ``resize_image``, ``flaky``
(payload ``{"fail_rate": 0.5}``) or ``noop``. ``worker()`` reads ``TASKFORGE_URL`` and
``TASKFORGE_API_KEY``.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from typing import Any

from taskforge_sdk.errors import NonRetryable
from taskforge_sdk.worker import Worker, current_job

QUEUE = "demo"


def worker() -> Worker:
    demo = Worker(os.environ["TASKFORGE_URL"], os.environ["TASKFORGE_API_KEY"], queues=[QUEUE], concurrency=8,
                  name="demo-worker", worker_type="demo", lease_wait=5)

    @demo.task("send_email")
    def send_email(payload: dict[str, Any]) -> dict[str, Any]:
        if "to" not in payload:
            raise NonRetryable("payload needs 'to'")
        time.sleep(0.05)
        return {"sent_to": payload["to"], "attempt": current_job().attempt}

    @demo.task("resize_image")
    async def resize_image(payload: dict[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(0.2)
        return {"width": int(payload.get("width", 640)) // 2}

    @demo.task("flaky")
    def flaky(payload: dict[str, Any]) -> str:
        if random.random() < float(payload.get("fail_rate", 0.5)):
            raise RuntimeError("flaked, as asked")
        return "ok"

    @demo.task("noop")
    def noop(payload: dict[str, Any]) -> None:
        return None

    return demo
