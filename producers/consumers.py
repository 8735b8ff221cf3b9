"""Stopping the aiokafka consumers that follow topics (the API's reply follower and log tails).

aiokafka's fetcher closes by cancelling its pending tasks and awaiting each without catching its
``CancelledError`` (``Fetcher.close``; aio-libs/aiokafka#647, still open). With the broker down, one of
them (a position update) is usually asleep in its retry backoff, so ``consumer.stop()`` raised
``CancelledError`` to its caller: the API's shutdown ended there, uvicorn logged "Application shutdown
failed", and the stops after it (the event log, the followers, the ClickHouse store) never ran.
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaConsumer

log = logging.getLogger(__name__)


async def stop_consumer(consumer: AIOKafkaConsumer, name: str) -> None:
    """Stop ``consumer``; a cancellation that comes out of aiokafka's own tasks is not the caller's.

    When the task running this is itself being cancelled, the cancellation goes on as usual.
    """
    try:
        await consumer.stop()
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise
        log.warning("%s: aiokafka's consumer stop was cut short by one of its own cancelled tasks "
                    "(aio-libs/aiokafka#647); closing its connections", name)
        await consumer._client.close()  # noqa: SLF001 - the step of stop() that the error skipped
