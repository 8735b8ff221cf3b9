"""The ClickHouse adapter: one client library, two backends, the same SQL.

``chdb:///path`` runs the engine in this process (one process per data directory);
``http(s)://host:8123`` talks to a server. clickhouse-connect is blocking and a client
serializes its calls, so the store keeps a small pool of clients and runs every call
in its own thread pool, off the event loop.

Inserts reuse one insert context per client, table and columns. A fresh context per insert
cost a ``DESCRIBE`` of the table each time, and it is a reference cycle (it holds a bound
method of itself) that kept the whole batch's rows alive until the garbage collector's next
full pass: at ten million events that made the projector's process spend close to a second
in every other second in full collections.

The library imports its optional data-frame modules on first use: the first insert of a process
imports pandas (to ask whether the rows are a DataFrame), ~0.3-0.6 s of holding the interpreter
lock, which stalled every request and the projector's first batch after each start. ``open``
resolves them at start instead, before the heap is frozen (``taskforge.gc_pauses``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import clickhouse_connect
from clickhouse_connect.driver import options as optional_modules
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError, OperationalError
from clickhouse_connect.driver.insert import InsertContext

from projections.insert_columns import columns_for_insert
from taskforge.errors import ReadModelUnavailable
from taskforge.niceness import set_thread_niceness
from taskforge.settings import Settings

log = logging.getLogger(__name__)

_LAZY_MODULES = ("np", "pd", "arrow")
"""clickhouse-connect's optional modules that inserts and queries look up on first use."""


def _yield_cpu(niceness: int) -> None:
    """Each ClickHouse thread starts at a higher nice value, and so do the threads ClickHouse starts from it
    (Linux threads inherit their creator's): under CPU contention its inserts and merges give way to the
    event loops (the API's, the stream processors', Kafka's) whose waits are every request's latency.
    Never lower than the thread already runs at (``taskforge.niceness``)."""
    if niceness:
        set_thread_niceness(niceness, only_raise=True)


class ClickHouseStore:
    def __init__(self, settings: Settings, database: str | None = None) -> None:
        self.dsn = settings.clickhouse_dsn
        self.database = database or settings.clickhouse_database
        self._pool_size = settings.clickhouse_pool_size
        self._clients: asyncio.Queue[Client] = asyncio.Queue()
        self._all: list[Client] = []
        self._executor = ThreadPoolExecutor(max_workers=self._pool_size, thread_name_prefix="clickhouse",
                                            initializer=_yield_cpu, initargs=(settings.clickhouse_thread_niceness,))
        self._insert_contexts: dict[tuple[int, str, tuple[str, ...]], InsertContext] = {}

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, self._open_clients)
        except (OperationalError, OSError) as exc:
            raise ReadModelUnavailable(f"ClickHouse unreachable at {self._redacted_dsn}: {exc}") from exc
        for client in self._all:
            self._clients.put_nowait(client)

    @property
    def _redacted_dsn(self) -> str:
        return self.dsn.split("@")[-1] if "@" in self.dsn else self.dsn

    def _open_clients(self) -> None:
        for name in _LAZY_MODULES:
            getattr(optional_modules, name)  # import now (None when not installed), not in the first call
        admin = clickhouse_connect.get_client(dsn=self.dsn)
        admin.command(f"CREATE DATABASE IF NOT EXISTS `{self.database}`")
        admin.close()
        self._all = [clickhouse_connect.get_client(dsn=self.dsn, database=self.database) for _ in range(self._pool_size)]

    async def _run(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        client = await self._clients.get()
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, lambda: fn(client, *args, **kwargs))
        except OperationalError as exc:
            raise ReadModelUnavailable(f"ClickHouse did not answer: {exc}") from exc
        finally:
            self._clients.put_nowait(client)

    async def command(self, sql: str) -> None:
        """A statement without rows: DDL, in practice, so the column types the insert contexts hold are dropped."""
        self._insert_contexts.clear()
        await self._run(lambda c: c.command(sql))

    async def query(self, sql: str, parameters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Rows as dicts keyed by column name."""

        def run(client: Client) -> list[dict[str, Any]]:
            result = client.query(sql, parameters=parameters or {})
            names = result.column_names
            return [dict(zip(names, row, strict=True)) for row in result.result_rows]

        return await self._run(run)

    async def scalar(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        rows = await self._run(lambda c: c.query(sql, parameters=parameters or {}).result_rows)
        return rows[0][0] if rows else None

    async def insert(self, table: str, rows: Sequence[Sequence[Any]], column_names: Sequence[str]) -> None:
        if not rows:
            return

        def run(client: Client) -> None:
            key = (id(client), table, tuple(column_names))
            if (context := self._insert_contexts.get(key)) is None:  # a client is used by one thread at a time
                context = client.create_insert_context(table, column_names=list(column_names))
                self._insert_contexts[key] = context
            context.column_oriented = True
            try:
                client.insert(data=columns_for_insert(rows, context.column_types), context=context)
            finally:
                context.data = None  # empty for the next insert (the library keeps the last rows until then)

        await self._run(run)

    async def ping(self) -> bool:
        try:
            return await self.scalar("SELECT 1") == 1
        except (ReadModelUnavailable, ClickHouseError):
            return False

    async def close(self) -> None:
        def close_all() -> None:
            for client in self._all:
                client.close()

        await asyncio.get_running_loop().run_in_executor(self._executor, close_all)
        self._executor.shutdown(wait=True)
