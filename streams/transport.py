"""faust's Kafka transport with a consumer that does not sit on a fetch for 1.5 s.

faust builds its aiokafka consumer with ``fetch_max_wait_ms=1500`` (hard-coded). aiokafka
keeps one fetch request in flight per broker and leaves out of it the partitions whose
records are still buffered, so a record that arrives for such a partition waits for the
in-flight request to come back: up to 1.5 s whenever the partitions it does cover are quiet.
Every agent of the stream processors (owners, dispatchers) reads through this one consumer,
so that wait was added to every hop of a job's life. Measured with ``benchmarks/engine.py``:
the owner decided commands ~1.5 s after they were appended.
"""

from __future__ import annotations

from typing import Any

import aiokafka
from faust.transport.drivers import aiokafka as faust_aiokafka


class PromptConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):  # type: ignore[misc]
    fetch_max_wait_ms: int = 20

    def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        # read by the consumer when it builds its fetcher at start; no constructor argument reaches it through faust
        consumer._fetch_max_wait_ms = self.fetch_max_wait_ms
        return consumer


class PromptConsumer(faust_aiokafka.Consumer):  # type: ignore[misc]
    def _new_consumer_thread(self) -> PromptConsumerThread:
        return PromptConsumerThread(self, loop=self.loop, beacon=self.beacon)


class PromptTransport(faust_aiokafka.Transport):  # type: ignore[misc]
    Consumer = PromptConsumer


def install_prompt_transport(app: Any, fetch_max_wait_ms: int) -> None:
    """Give ``app`` the prompt consumer; call before the app starts."""
    PromptConsumerThread.fetch_max_wait_ms = fetch_max_wait_ms
    app.transport = PromptTransport(app.conf.broker_consumer, app)
