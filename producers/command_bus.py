"""Send a command to an aggregate's owner and wait, a bounded time, for its verdict.

Each API process follows ``job-replies`` from the end (no consumer group: every process
reads every reply, and decodes only those it waits for). The wait is registered before the
command is sent, so a fast reply cannot be missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Annotated

import orjson
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError
from pydantic import Field, TypeAdapter, ValidationError

from producers.consumers import stop_consumer
from producers.event_log import KafkaEventLog, Publishable
from producers.topics import Topics, partitions_of
from schemas.commands import CommandEnvelope, CommandReply
from schemas.dispatch import LeaseRequestDone, LiveJobsCount, LiveJobsQuery
from schemas.identity import IdentityCommandEnvelope, IdentityReply
from schemas.packs import packed, unpacked
from schemas.queue import QueueCommand
from taskforge.errors import EventLogUnavailable
from taskforge.settings import Settings

log = logging.getLogger(__name__)

Reply = CommandReply | LeaseRequestDone | LiveJobsCount | IdentityReply
# told apart by ``kind`` rather than by trying each type in turn: every reply of the platform passes here
_REPLY: TypeAdapter[Reply] = TypeAdapter(Annotated[Reply, Field(discriminator="kind")])


def _reply_id(doc: object) -> uuid.UUID | None:
    """The id a reply answers (a command's, or a request's), read before the reply is decoded: every API
    process reads every reply, and decodes only those it waits for. None when the document names none."""
    if not isinstance(doc, dict):
        return None
    raw = doc.get("command_id") or doc.get("request_id")
    try:
        return uuid.UUID(raw) if isinstance(raw, str) else None
    except ValueError:
        return None


class OwnerDidNotAnswer(EventLogUnavailable):
    """The command was appended but no verdict came back in time; its outcome is unknown."""


class CommandBus:
    def __init__(self, settings: Settings, topics: Topics, event_log: KafkaEventLog) -> None:
        self._settings = settings
        self._topics = topics
        self._event_log = event_log
        self._waiting: dict[uuid.UUID, asyncio.Future[Reply]] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        partitions = await partitions_of(self._settings, [self._topics.job_replies])
        consumer = AIOKafkaConsumer(bootstrap_servers=self._settings.bootstrap_servers, group_id=None,
                                    enable_auto_commit=False, client_id="taskforge-replies")
        await consumer.start()
        consumer.assign(partitions)
        await consumer.seek_to_end(*partitions)
        for tp in partitions:  # resolve "the end" now, before any command is sent
            await consumer.position(tp)
        self._consumer = consumer
        self._task = asyncio.get_running_loop().create_task(self._follow(), name="command-replies")

    async def _follow(self) -> None:
        assert self._consumer is not None
        while True:
            try:
                batch = await self._consumer.getmany(timeout_ms=self._settings.projector_poll_ms)
            except KafkaError as exc:
                log.warning("replies: fetch failed (%r); retrying", exc)
                await asyncio.sleep(1.0)
                continue
            for messages in batch.values():
                for message in messages:
                    self._resolve(message.value, message.offset)

    def _resolve(self, value: bytes, offset: int) -> None:
        """Hand the replies of one record (a pack of them, usually) to whoever waits for them."""
        try:
            docs = unpacked(value)
        except orjson.JSONDecodeError as exc:
            log.error("replies: skipping a record that is not JSON at offset %d: %s", offset, exc)
            return
        for doc in docs:
            waiter = self._waiting.get(_reply_id(doc))
            if waiter is None or waiter.done():
                continue  # another API process's, or too late: not decoded at all
            try:
                waiter.set_result(_REPLY.validate_python(doc))
            except ValidationError as exc:
                log.error("replies: skipping an undecodable reply at offset %d: %s", offset, exc)

    def expect(self, ids: list[uuid.UUID]) -> dict[uuid.UUID, asyncio.Future[Reply]]:
        """Wait for replies by id before what causes them is sent, so none can be missed."""
        loop = asyncio.get_running_loop()
        futures = {i: loop.create_future() for i in ids}
        self._waiting.update(futures)
        return futures

    def forget(self, ids: list[uuid.UUID]) -> None:
        for i in ids:
            self._waiting.pop(i, None)

    async def send(self, command: CommandEnvelope) -> CommandReply:
        """Append the command and return the owner's reply; 503 when Kafka or the owner does not answer."""
        (reply,) = await self.send_many([command])
        if isinstance(reply, OwnerDidNotAnswer):
            raise reply
        return reply

    async def send_many(self, commands: list[CommandEnvelope]) -> list[CommandReply | OwnerDidNotAnswer]:
        """Append all commands in one go and wait for every reply; a silent owner is reported per command.

        If Kafka does not take the commands, ``EventLogUnavailable`` is raised for all of them.
        """
        ids = [c.command_id for c in commands]
        waiters = self.expect(ids)
        timeout = self._settings.command_timeout_seconds
        by_topic: dict[str, list[CommandEnvelope]] = {}
        for command in commands:
            topic = self._topics.queue_commands if isinstance(command.data, QueueCommand) else self._topics.job_commands
            by_topic.setdefault(topic, []).append(command)
        try:
            await asyncio.gather(*(self._event_log.append(topic, packed(batch, self._topics.partitions))
                                   for topic, batch in by_topic.items()))
            await asyncio.wait(waiters.values(), timeout=timeout)
            results: list[CommandReply | OwnerDidNotAnswer] = []
            for waiter in waiters.values():
                reply = waiter.result() if waiter.done() else None
                results.append(reply if isinstance(reply, CommandReply) else OwnerDidNotAnswer(
                    f"the job's owner did not answer within {timeout:g}s; the outcome is unknown, and repeating "
                    "the request is safe (use an idempotency key for submissions)"))
            return results
        finally:
            self.forget(ids)

    async def _ask(self, topic: str, record: Publishable, reply_id: uuid.UUID, who: str, outcome: str) -> Reply:
        """Append one record and wait, a bounded time, for the reply with ``reply_id``."""
        (waiter,) = self.expect([reply_id]).values()
        timeout = self._settings.command_timeout_seconds
        try:
            await self._event_log.append(topic, [record])
            return await asyncio.wait_for(waiter, timeout)
        except TimeoutError as exc:
            raise OwnerDidNotAnswer(f"{who} did not answer within {timeout:g}s; {outcome}") from exc
        finally:
            self.forget([reply_id])

    async def decide_identity(self, command: IdentityCommandEnvelope) -> IdentityReply:
        """Ask the identity owner; 503 when Kafka or the owner does not answer in time."""
        reply = await self._ask(self._topics.identity_commands, command, command.command_id,
                                "the identity owner", "the outcome is unknown")
        assert isinstance(reply, IdentityReply)
        return reply

    async def count_live_jobs(self, query: LiveJobsQuery) -> LiveJobsCount:
        """Ask a queue's dispatcher, which owns the queue's job set, how many of its jobs are live."""
        reply = await self._ask(self._topics.dispatch, query, query.request_id, "the queue's dispatcher",
                                "nothing was changed, and repeating the request is safe")
        assert isinstance(reply, LiveJobsCount)
        return reply

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await stop_consumer(self._consumer, "replies")
