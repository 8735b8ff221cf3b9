"""The stream processors' consumer lets the broker hold a fetch only briefly (see streams/transport.py)."""

from __future__ import annotations

import asyncio

from streams.app import create_streams_app
from streams.transport import PromptConsumerThread, PromptTransport
from taskforge.settings import Settings


def test_the_faust_consumer_is_built_with_the_configured_fetch_wait() -> None:
    async def build() -> int:
        app = create_streams_app(Settings(env="test", bootstrap_api_key="tf_" + "k" * 32, jwt_secret="j" * 40,
                                               streams_fetch_max_wait_ms=7))
        assert isinstance(app.transport, PromptTransport)
        thread = app.consumer._thread  # built, never started: no I/O
        assert isinstance(thread, PromptConsumerThread)
        consumer = thread._create_worker_consumer(app.transport)
        return consumer._fetch_max_wait_ms

    assert asyncio.run(build()) == 7, "faust's own default is 1500 ms"
