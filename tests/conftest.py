"""Fixtures: a real throwaway Kafka broker for the session, the embedded ClickHouse engine,
and a running API per test module. Nothing here is mocked.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from infra.kafka.broker import LocalBroker
from taskforge.settings import Settings
from tests.support import StreamsProcess, free_port, scoped_settings, wait_for_owner


@pytest.fixture(scope="session")
def session_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("taskforge")


@pytest.fixture(scope="session")
def broker_settings(session_dir: Path) -> Iterator[Settings]:
    """One broker for the suite, on free ports, in its own data directory; stopped even when tests fail."""
    settings = scoped_settings(session_dir, free_port(), free_port())
    broker = LocalBroker(settings)
    broker.start()
    try:
        yield settings
    finally:
        broker.stop()


@pytest.fixture(scope="module")
def settings(broker_settings: Settings) -> Settings:
    """A fresh topic prefix and ClickHouse database for each test module."""
    return scoped_settings(broker_settings.data_dir, broker_settings.kafka_port, broker_settings.kafka_controller_port)


@pytest.fixture(scope="module")
def streams(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StreamsProcess]:
    """The stream processors (job owners) for this module's topics, as a real faust worker process."""
    worker = StreamsProcess(settings, tmp_path_factory.mktemp("streams") / "streams.log")
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()


@pytest.fixture(scope="module")
async def api(settings: Settings, streams: StreamsProcess) -> AsyncIterator[httpx.AsyncClient]:
    """The real app (real Kafka, real chdb, real job owners) served in-process through its ASGI interface."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        await wait_for_owner(app.state.context.commands)
        await asyncio.wait_for(app.state.context.bootstrapped.wait(), 60)
        streams.assert_alive()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=30) as client:
            client.app = app  # type: ignore[attr-defined]
            yield client


SERVER_URL = os.environ.get("TASKFORGE_CLICKHOUSE_URL")
BACKENDS = [
    pytest.param("chdb", id="chdb"),
    pytest.param(
        "server", id="server",
        marks=pytest.mark.skipif(not SERVER_URL, reason="TASKFORGE_CLICKHOUSE_URL is not set: no ClickHouse server to test against"),
    ),
]


@pytest.fixture(params=BACKENDS)
def clickhouse_backend(request: pytest.FixtureRequest, session_dir: Path) -> str:
    """The ClickHouse location for read-model tests: the embedded engine always, a server when one is configured."""
    return f"chdb://{session_dir / 'clickhouse'}" if request.param == "chdb" else str(SERVER_URL)
