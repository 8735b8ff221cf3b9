"""The faust-streaming application: the owners of aggregates, one writer per partition.

The job owner consumes ``job-commands`` (keyed by job id; records are packs of commands,
``schemas.packs``) through a group commit (``streams.pipeline``): commands are decided as
they arrive (``streams.job_owner.decide_or_refuse``), each round seeing the rounds before it;
a round's events, follow-up commands and dispatcher notices are appended through the
idempotent event log and acknowledged by Kafka, then its table entries are set in memory and
their changelog records appended together with the replies, and only when those are
acknowledged too are the round's records acknowledged to faust. So a crash anywhere before
faust commits their offsets redelivers the commands, and the redelivered decisions repeat
the same events (same ids, same sequences), which consumers recognise.

Notices bound for a dispatcher of this process are handed over as soon as they are
acknowledged (``streams.handover``), and the dispatcher offers ready work to parked lease
requests at once, not at its next tick.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

import faust
import orjson
from faust.types import TP
from mode import Service
from pydantic import ValidationError

from producers.event_log import PRODUCER_BATCH_BYTES, Appended, KafkaEventLog, Publishable
from producers.topics import Topics
from projections.rows import LogRecord
from projections.tail import TopicTail
from schemas.commands import CommandEnvelope, decode_commands
from schemas.dispatch import (
    AnyDispatchMessage, JobStatusNotice, LeaseRequestDone, LeaseRequested, LiveJobsCount, LiveJobsQuery, QueueNotice,
    decode_dispatch,
    lease_command_id,
)
from schemas.envelope import EventEnvelope, Tenant, UndecodableEvent, decode
from schemas.ids import derived_id
from schemas.packs import packed
from schemas.job import CancelJob, ExpireLease, LeaseJob
from schemas.worker import WorkerStateChanged
from schemas.queue import QueueCreated, QueueDeleted
from streams.dispatcher import QueueDispatch, TrackedJob, dispatch_seq
from streams.fatal import RECOVERY_STALLED_EXIT_CODE, end_process, ending_the_process_on_failure
from streams.job_holding import OwnedJob, UnreadableHolding, holding_bytes, holding_of
from streams.job_owner import Outcome, OwnerRound, decide_or_refuse, refused_as_internal
from streams.identity_owner import follow_registry, handle_identity_commands
from streams.queue_owner import decide_queue_or_refuse
from streams.deciders.identity import Registry
from schemas.identity import IdentityCommandEnvelope
from streams.tables import (
    KEY_SEPARATOR, ChangelogRecord, KeyPartitionedTable, QueuePartitionedTable, add_table, queue_key,
)
from streams.handover import HandOvers
from streams.pipeline import Decide, GroupCommit, Stage, Stages
from streams.recovery_watch import RecoveryProgress, RecoveryWatch
from streams.retention import ArchiveSchedule, Retention, archive_command, due_for_archive
from streams.ticks import Alarm, every
from streams.timers import TimerHeap, command_for
from streams.transport import install_prompt_transport
from streams.worker_watch import WorkerWatch
from taskforge.clock import Clock, SystemClock
from taskforge.errors import EventLogUnavailable
from taskforge.gc_pauses import collect_on_schedule
from taskforge.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")
D = TypeVar("D")
_APPEND_RETRY_SECONDS = 1.0
# faust writes a table's changelog one record at a time, each awaited; without a linger, aiokafka's sender
# sent most of them as produce requests of their own (the stream processors' largest cost in a profile)
CHANGELOG_LINGER_SECONDS = 0.005
# records an owner may have read and not yet acknowledged, in rounds of at most owner_batch_max
IN_FLIGHT_ROUNDS = 4


@dataclass(frozen=True)
class DispatchRound:
    """What a dispatcher round decided that must be durable before its records are acknowledged."""

    table: list[ChangelogRecord]
    cancellations: list[CommandEnvelope]
    counts: list[LiveJobsCount]


@dataclass
class Offering:
    """Offers made at once to parked lease requests (LeaseJob commands to the jobs' owners), and the answers."""

    commands: list[CommandEnvelope] = field(default_factory=list)
    answers: list[LeaseRequestDone] = field(default_factory=list)


def app_id(settings: Settings) -> str:
    return f"{settings.topic_prefix}-streams"


def changelog_topic(settings: Settings, table: str) -> str:
    return f"{app_id(settings)}-{table}-changelog"


class EventLogService(Service):
    """Starts and stops the event log with the faust worker."""

    def __init__(self, event_log: KafkaEventLog, **kwargs: object) -> None:
        self.event_log = event_log
        super().__init__(**kwargs)

    async def on_start(self) -> None:
        await self.event_log.start()

    async def on_stop(self) -> None:
        await self.event_log.stop()


class RecoveryWatchService(Service):
    """Reads faust's table recovery once a second; a stalled one is started over once, then ends the process
    (``streams.recovery_watch``).

    A service of the app rather than one of its timers: faust starts those only once the first recovery
    has ended, which is the one a fresh process must not hang in.
    """

    def __init__(self, app: faust.App, watch: RecoveryWatch, **kwargs: object) -> None:
        self.app = app
        self.watch = watch
        self.started_over = False  # this recovery was started over once already
        super().__init__(**kwargs)

    @Service.timer(1.0)
    async def _end_a_stalled_recovery(self) -> None:
        recovery = self.app.tables.recovery
        progress = RecoveryProgress(recovering=recovery.in_recovery, remaining=recovery.active_remaining_total())
        if not progress.recovering:
            self.started_over = False
        if not self.watch.stalled(progress, time.monotonic()):
            return
        if not self.started_over:
            log.error("table recovery made no progress for %.0f s (%d changelog records left to read: %s); "
                      "starting it over (it seeks every changelog partition again)",
                      self.watch.limit_seconds, progress.remaining, self._left_to_read())
            self.started_over = True
            self.watch.start_over()
            recovery.signal_recovery_start.set()  # what a rebalance does: faust's recovery loop begins again
        else:
            log.critical("table recovery made no progress for %.0f s (%d changelog records left to read: %s); "
                         "ending the process (exit code %d) so that its supervisor starts it again",
                         self.watch.limit_seconds, progress.remaining, self._left_to_read(),
                         RECOVERY_STALLED_EXIT_CODE)
            end_process(RECOVERY_STALLED_EXIT_CODE)

    def _left_to_read(self) -> dict[str, dict[str, int | bool | None]]:
        """Each changelog partition with records left, as faust's recovery and both consumers see it.

        ``fetching``/``paused`` are faust's bookkeeping, ``read`` is the last offset faust's drain loop handed on
        (it drops records below it), ``recovered`` the recovery's own, and ``position``/``buffered`` aiokafka's
        next fetch offset and whether it holds fetched records for the partition. These readings found the hang
        of ``docs/job-engine.md`` item 6 (records fetched, then dropped: ``position`` at the end, ``recovered``
        -1); a stall of another cause will show here too. Read only for the message, from another thread's
        objects: a snapshot, not a lock-step view.
        """
        consumer = self.app.consumer
        fetching = getattr(consumer, "_active_partitions", None) or set()
        paused = getattr(consumer, "_paused_partitions", None) or set()
        read = getattr(consumer, "_read_offset", {})
        recovery = self.app.tables.recovery
        kafka_consumer = getattr(getattr(consumer, "_thread", None), "_consumer", None)
        assignment = kafka_consumer._subscription.subscription.assignment if kafka_consumer is not None else None
        buffered = kafka_consumer._fetcher._records if kafka_consumer is not None else {}

        def position(tp: TP) -> int | None:
            state = assignment.state_value(tp) if assignment is not None else None
            return state.position if state is not None and state.has_valid_position else None

        return {f"{tp.topic}[{tp.partition}]": {
                    "left": left, "fetching": tp in fetching, "paused": tp in paused, "read": read.get(tp),
                    "recovered": recovery.active_offsets.get(tp), "position": position(tp), "buffered": tp in buffered}
                for tp, left in recovery.active_remaining().items() if left}


class FollowerService(Service):
    """Runs a log follower for as long as the faust worker runs."""

    def __init__(self, tail: TopicTail, **kwargs: object) -> None:
        self.tail = tail
        super().__init__(**kwargs)

    async def on_start(self) -> None:
        await self.tail.start()

    async def on_stop(self) -> None:
        await self.tail.stop()


async def _until_done(what: str, write: Callable[[], Awaitable[T]]) -> T:
    """An owner cannot skip a decision: it waits for Kafka rather than drop what it decided."""
    while True:
        try:
            return await write()
        except EventLogUnavailable as exc:
            log.warning("owner: appending to %s failed (%s); retrying", what, exc.message)
            await asyncio.sleep(_APPEND_RETRY_SECONDS)


async def append_until_done(event_log: KafkaEventLog, topic: str, records: Sequence[Publishable]) -> list[Appended]:
    """The records' positions, once acknowledged."""
    if not records:
        return []
    return await _until_done(topic, lambda: event_log.append(topic, records))


async def write_table_until_done(event_log: KafkaEventLog, records: Sequence[ChangelogRecord]) -> None:
    """A batch's table entries, made durable in their changelog (``KeyPartitionedTable.write_many``)."""
    if records:
        await _until_done(records[0].topic, lambda: event_log.append_placed(records))


def create_streams_app(settings: Settings, clock: Clock | None = None) -> faust.App:
    clock = clock or SystemClock()
    topics = Topics.from_settings(settings)
    app = faust.App(
        app_id(settings),
        broker=f"kafka://{settings.bootstrap_servers}",
        store="memory://",  # state is rebuilt from the changelog topic at start
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.topic_replication_factor,
        processing_guarantee="at_least_once",  # exactly_once has open duplicate bugs (ARCHITECTURE.md §2)
        producer_acks=-1,
        producer_max_batch_size=PRODUCER_BATCH_BYTES,  # the tables' changelog writes come in batches too
        producer_linger=CHANGELOG_LINGER_SECONDS,
        broker_session_timeout=settings.streams_session_timeout_seconds,
        broker_heartbeat_interval=max(1.0, settings.streams_session_timeout_seconds / 5),
        web_enabled=False,
        key_serializer="raw",  # records are our own envelopes
        value_serializer="raw",
        datadir=str(settings.data_dir / "streams"),
    )
    install_prompt_transport(app, settings.streams_fetch_max_wait_ms, settings.streams_quiet_fetch_max_wait_ms)

    app.add_dependency(RecoveryWatchService(app, RecoveryWatch(settings.streams_recovery_stall_seconds)))

    @app.task
    async def collect_garbage_on_schedule() -> None:
        """A full collection stops every agent of this process: only young ones run automatically, full ones
        once a minute, long pauses logged (taskforge/gc_pauses.py). Runs until the worker stops."""
        await collect_on_schedule()

    event_log = KafkaEventLog(settings)
    app.add_dependency(EventLogService(event_log))

    async def send_packed(topic: str, messages: Sequence[Publishable]) -> None:
        """Commands, notices and replies travel in packs, one record per partition (``schemas.packs``).

        Replies are not placed by key: every API process reads every partition of the reply topic.
        """
        if messages:
            partitions = 1 if topic == topics.job_replies else topics.partitions
            await append_until_done(event_log, topic, packed(messages, partitions))

    job_commands = app.topic(topics.job_commands, key_type=bytes, value_type=bytes)
    # entries go to the changelog partition of their job's commands, not to the partition of whichever
    # event a batch was handled under (streams/tables.py)
    job_state = add_table(app, KeyPartitionedTable, "job-state", settings.topic_partitions)
    timers = TimerHeap()
    archives = ArchiveSchedule(Retention.from_settings(settings))

    def readable_holdings() -> Iterator[tuple[bytes, OwnedJob]]:
        """Every job the table holds, skipping (and logging) entries this build cannot read: one such entry
        must not stop the owners' start, which would then fail again at every restart."""
        for key, value in job_state.items():
            try:
                yield key, holding_of(value)
            except UnreadableHolding as exc:
                log.error("owner: the table entry of job %s cannot be read, so it has no timers: %s",
                          key.decode(errors="replace"), exc)

    def noted_for_archive(holdings: Iterable[tuple[bytes, OwnedJob]]) -> Iterator[OwnedJob]:
        for key, owned in holdings:
            archives.note(key, owned)
            yield owned

    def held_job(key: bytes) -> OwnedJob | None:
        """Parsed on every use: kept decoded, a live job is ~27 objects for the collector to walk (a cache of
        them made the stream processors' full collections ~200 ms at 7,000 live jobs)."""
        stored = job_state.get(key)
        return holding_of(stored) if stored is not None else None

    def hold_jobs(changed: dict[bytes, OwnedJob | None]) -> list[ChangelogRecord]:
        """The batch's decisions into the table (and its timers); returns the changelog records to append.
        An archived job (None) leaves the table, which tells the changelog with a tombstone."""
        for key, owned_job in changed.items():
            if owned_job is not None:
                timers.note(owned_job)
                archives.note(key, owned_job)
        return job_state.write_many({key: holding_bytes(owned_job) if owned_job is not None else None
                                     for key, owned_job in changed.items()})

    def group_commit(decide: Decide[D], stages: Sequence[Stage[D]]) -> GroupCommit[D]:
        """An owner's or dispatcher's pipeline (``streams.pipeline``), all sized by the same settings."""
        return GroupCommit(decide, stages, max_round=settings.owner_batch_max,
                           max_in_flight=IN_FLIGHT_ROUNDS * settings.owner_batch_max,
                           gather_seconds=settings.owner_batch_linger_ms / 1000)

    # decided but not yet in the table (its round's events may still be on their way): later rounds see these
    undurable: dict[bytes, OwnedJob | None] = {}
    job_owner: GroupCommit[OwnerRound] | None = None  # the running owner's, for the rounds of its own

    def holding_now(key: bytes) -> OwnedJob | None:
        """What the owner's next decision on a job starts from: its decided state not yet durable, else the table.
        Raises ``UnreadableHolding`` for a table entry this build cannot read."""
        return undurable[key] if key in undurable else held_job(key)

    def take(decided: OwnerRound, key: bytes, command: CommandEnvelope, owned: OwnedJob | None,
             outcome: Outcome) -> None:
        """One decision into its round (``key``: the job's table key); the commands after it see its state."""
        decided.appended.extend(outcome.events)
        decided.follow_ups.extend(outcome.follow_ups)
        if outcome.archived or (outcome.owned is not None and outcome.owned is not owned):
            undurable[key] = decided.changed[key] = outcome.owned
        if command.wants_reply:
            decided.replies.append(outcome.reply)
        decided.notices.extend(outcome.notices)

    async def decide_round(events: list[faust.types.EventT]) -> OwnerRound:
        """Each command sees the state the commands before it left, in this round or an earlier one."""
        decided = OwnerRound()
        for event in events:
            for command in decode_commands(event.value):
                if isinstance(command, UndecodableEvent):
                    log.error("owner: skipping an undecodable command at offset %d: %s", event.message.offset, command)
                    continue
                key = command.key
                try:
                    owned = holding_now(key)
                except UnreadableHolding as exc:  # an entry this build cannot read: that job's commands are refused
                    log.error("owner: the table entry of job %s cannot be read; %s %s refused: %s",
                              command.aggregate_id, command.command_type, command.command_id, exc)
                    owned, outcome = None, refused_as_internal(None, command, exc)
                else:
                    outcome = decide_or_refuse(owned, command)
                take(decided, key, command, owned, outcome)
        return decided

    def archive_due_jobs(now: datetime) -> None:
        """The jobs past their retention, archived in a round of the owner's own (``streams.retention``).

        Decided here, between the owner's rounds, rather than sent through Kafka like the other timers'
        commands: an ``ArchiveJob`` would only come back to this process, and the trip through Kafka (encode,
        append, fetch, decode, parse the holding again) was half of what archiving cost the owner. The round
        goes through the owner's stages after every round decided before it, so its events, then its
        tombstones, are durable in order; a crash before them leaves the holding, and the rebuilt schedule
        archives it again with the same ids.
        """
        running = job_owner
        if running is None:
            return  # not owning now (a rebalance): the entries wait
        decided = OwnerRound()
        for key in archives.pop_due(now):
            try:
                owned = holding_now(key)
            except UnreadableHolding:
                continue  # refused and logged whenever a command for it comes; never archived
            if owned is not None and due_for_archive(owned, archives.retention, now):
                command = archive_command(owned, now)
                take(decided, key, command, owned, decide_or_refuse(owned, command))
        if decided.changed:
            running.stages.put(decided)

    async def append_decisions(rounds: list[OwnerRound]) -> None:
        """Everything a decision implies goes out before the table records it: a crash before the table
        write redelivers the commands, which are then decided again in full (same ids)."""
        await asyncio.gather(
            append_until_done(event_log, topics.job_events, [e for r in rounds for e in r.appended]),
            send_packed(topics.job_commands, [c for r in rounds for c in r.follow_ups]),
            send_notices([n for r in rounds for n in r.notices]),
        )

    async def record_decisions(rounds: list[OwnerRound]) -> None:
        """The table (in memory at once, then its changelog) and the replies, together; a crash before the
        changelog's ack redelivers the commands, decided again the same way."""
        changed = {key: owned for r in rounds for key, owned in r.changed.items()}  # a later round's state wins
        await asyncio.gather(write_table_until_done(event_log, hold_jobs(changed)),
                             send_packed(topics.job_replies, [reply for r in rounds for reply in r.replies]))
        for key, owned in changed.items():
            if key in undurable and undurable[key] is owned:  # not decided again since
                del undurable[key]

    @app.agent(job_commands, name="job-owner")
    @ending_the_process_on_failure  # streams/fatal.py
    async def own_jobs(stream: faust.StreamT) -> None:
        """Commands decided as they arrive, made durable by group commit (``streams.pipeline``)."""
        nonlocal job_owner
        undurable.clear()  # what a failed run decided is not in the log: its commands come again
        job_owner = group_commit(decide_round, [append_decisions, record_decisions])
        try:
            await job_owner.run(stream)
        finally:
            job_owner = None

    # --- queue catalogues: one per project, one owner per catalogue --------------------------
    queue_commands = app.topic(topics.queue_commands, key_type=bytes, value_type=bytes)
    catalogs = add_table(app, KeyPartitionedTable, "queue-catalog", settings.topic_partitions)

    @app.agent(queue_commands, name="queue-owner")
    @ending_the_process_on_failure  # streams/fatal.py
    async def own_queue_catalogs(stream: faust.StreamT) -> None:
        """One command at a time (queue changes are rare): append the events, write the table, reply."""
        async for event in stream.events():
            for command in decode_commands(event.value):
                if isinstance(command, UndecodableEvent):
                    log.error("queue owner: skipping an undecodable command at offset %d: %s",
                              event.message.offset, command)
                    continue
                outcome = decide_queue_or_refuse(catalogs.get(command.key), command)
                if outcome.events:
                    await append_until_done(event_log, topics.queue_events, outcome.events)
                if outcome.held is not None and outcome.events:
                    catalogs[command.key] = outcome.held.model_dump_json().encode()
                if command.wants_reply:
                    await send_packed(topics.job_replies, [outcome.reply])

    # --- identity: one registry for the platform, one owner for it ----------------------------
    registry = Registry()
    registry_follower = follow_registry(settings, topics, registry, "identity-owner")
    app.add_dependency(FollowerService(registry_follower))
    identity_commands = app.topic(topics.identity_commands, key_type=bytes, value_type=bytes)

    async def decide_identity_round(events: list[faust.types.EventT]) -> None:
        """One round, durable before it returns: the next round's catch-up must find these events in the log.

        A later round is decided against the registry as the follower leaves it, and the follower
        re-applies each event's whole entity; were this round still on its way to Kafka, the follower
        could set an entity back to an older state under the next round's decision.
        """
        commands = []
        for event in events:
            try:
                commands.append(IdentityCommandEnvelope.model_validate_json(event.value))
            except ValidationError as exc:
                log.error("identity owner: skipping an undecodable command at offset %d: %s",
                          event.message.offset, exc)
        while not await registry_follower.catch_up():
            log.warning("identity owner: the registry cannot reach the log's end; retrying")
        outcome = handle_identity_commands(registry, commands)
        if outcome.events:
            await append_until_done(event_log, topics.identity_events, outcome.events)
        await send_packed(topics.job_replies, outcome.replies)

    async def identity_durable(_rounds: list[None]) -> None:
        """Nothing left to append: each round was made durable while it was decided."""

    @app.agent(identity_commands, name="identity-owner")
    @ending_the_process_on_failure  # streams/fatal.py
    async def own_identity(stream: faust.StreamT) -> None:
        """Batches of what has arrived, decided one after another against a registry that has reached the
        log's end first. (faust's ``take_events`` polled for its batches every millisecond even when idle:
        ~4% of the stream processors' CPU under load.)"""
        await group_commit(decide_identity_round, [identity_durable]).run(stream)

    # --- dispatch: one queue, one partition, one dispatcher -----------------------------------
    dispatch_in = app.topic(topics.dispatch, topics.queue_events, key_type=bytes, value_type=bytes)
    # entries are keyed "<queue id>/..." and land in that queue's partition whatever batch wrote them,
    # so they come back with the queue after a rebalance
    dispatch_state = add_table(app, QueuePartitionedTable, "dispatch-state", settings.topic_partitions)
    queues: dict[uuid.UUID, QueueDispatch] = {}

    def queue_of(queue_id: uuid.UUID) -> QueueDispatch:
        return queues.setdefault(queue_id, QueueDispatch(queue_id))

    # what the dispatcher decided and has yet to make durable (the round being decided, or a hand-over)
    dispatch_writes: dict[bytes, bytes | None] = {}
    cancellations: list[CommandEnvelope] = []
    counts: list[LiveJobsCount] = []

    def remember(queue: QueueDispatch, job_id: uuid.UUID, tracked: TrackedJob | None) -> None:
        key = queue_key(queue.queue_id, "job", str(job_id))
        # a dataclass, serialised by orjson itself; the key names the queue
        dispatch_writes[key] = None if tracked is None else orjson.dumps(tracked)

    def decided_dispatch() -> DispatchRound:
        """What was decided since the last call: the table in memory now, its changelog and the messages to come."""
        decided = DispatchRound(dispatch_state.write_many(dispatch_writes), list(cancellations), list(counts))
        dispatch_writes.clear()
        cancellations.clear()
        counts.clear()
        return decided

    def offer_commands(request: LeaseRequested, offers: list[TrackedJob], now: datetime) -> list[CommandEnvelope]:
        commands = []
        for index, job in enumerate(offers):
            command_id = lease_command_id(request.request_id, index)
            commands.append(CommandEnvelope.of(
                LeaseJob(job_id=job.job_id, lease_id=derived_id(command_id, "lease"), worker_id=request.worker_id),
                tenant=Tenant(organization_id=job.organization_id, project_id=job.project_id), issued_at=now,
                command_id=command_id, actor=f"worker:{request.worker_id}",
            ))
        return commands

    hand_overs = HandOvers()
    dispatcher: GroupCommit[DispatchRound] | None = None  # the running dispatcher's, for hand-overs

    @app.agent(dispatch_in, name="dispatcher")
    @ending_the_process_on_failure  # streams/fatal.py
    async def dispatch(stream: faust.StreamT) -> None:
        """Records what the queues hear, in rounds (``streams.pipeline``), and offers ready work at once.

        The table holds only what notices say (ready, running on a worker); an offer is kept in
        memory until the owner's notice confirms it. After a crash an unconfirmed offer may be
        made again, and the job's owner refuses the duplicate: a lost slot, never a double lease.
        """
        nonlocal dispatcher
        dispatcher = group_commit(dispatch_round, [make_dispatch_durable])
        try:
            await dispatcher.run(stream)
        finally:
            dispatcher = None

    async def dispatch_round(events: list[faust.types.EventT]) -> DispatchRound:
        touched: dict[uuid.UUID, QueueDispatch] = {}
        for event in events:
            message = event.message
            if message.topic == topics.queue_events:
                on_queue_record(event.value, touched)
            elif hand_overs.claim_for_reading(message.partition, message.offset):
                on_dispatch_messages(decode_dispatch(event.value), message.offset, touched)
        offer_ready_work(touched.values(), clock.now())
        return decided_dispatch()

    async def make_dispatch_durable(rounds: list[DispatchRound]) -> None:
        """The table's changelog, and the cancellations and answers decided with it, before the records are
        acknowledged (a crash before redelivers them, and they are decided again)."""
        await asyncio.gather(
            write_table_until_done(event_log, [record for r in rounds for record in r.table]),
            send_packed(topics.job_commands, [command for r in rounds for command in r.cancellations]),
            send_packed(topics.job_replies, [count for r in rounds for count in r.counts]))

    async def send_notices(notices: list[JobStatusNotice]) -> None:
        """A job owner's notices to their queues' dispatchers; handed over at once to those of this process."""
        packs = packed(notices, topics.partitions)
        positions = await append_until_done(event_log, topics.dispatch, packs)
        running = dispatcher
        if running is None:
            return  # the dispatcher is not running: it reads them from Kafka when it does
        actives = app.assignor.assigned_actives()
        touched: dict[uuid.UUID, QueueDispatch] = {}
        for pack, position in zip(packs, positions, strict=True):
            if (TP(topics.dispatch, position.partition) in actives
                    and hand_overs.claim_for_hand_over(position.partition, position.offset)):
                on_dispatch_messages(pack.sources, position.offset, touched)  # as appended: no decoding
        if touched:
            running.stages.put(decided_dispatch())  # durable in order with the rounds that later skip these records
            offer_ready_work(touched.values(), clock.now())

    def on_dispatch_messages(messages: Sequence[AnyDispatchMessage | ValueError] | Sequence[Publishable], offset: int,
                             touched: dict[uuid.UUID, QueueDispatch]) -> None:
        """The messages of one dispatch record (an undecodable one is its ValueError, in its place)."""
        for index, message in enumerate(messages):
            if isinstance(message, ValueError):
                log.error("dispatcher: skipping an undecodable message at offset %d: %s", offset, message)
                continue
            queue = queue_of(message.queue_id)
            if isinstance(message, JobStatusNotice):
                tracked = queue.on_status(message, seq=dispatch_seq(offset, index))
                remember(queue, message.job_id, tracked)
                touched[queue.queue_id] = queue
                if queue.deleted and tracked is not None and tracked.worker_id is None:
                    cancel_jobs([tracked], now=clock.now())
            elif isinstance(message, LeaseRequested):
                queue.park(message)
                touched[queue.queue_id] = queue
            elif isinstance(message, LiveJobsQuery):
                pending, scheduled, processing = queue.live_counts()
                counts.append(LiveJobsCount(
                    request_id=message.request_id, pending=pending, scheduled=scheduled, processing=processing))

    def on_queue_record(value: bytes, touched: dict[uuid.UUID, QueueDispatch]) -> None:
        """A queue's settings, pause state or deletion, as its catalogue's owner decided them."""
        try:
            envelope = decode(value)
        except UndecodableEvent as exc:
            log.error("dispatcher: skipping an undecodable queue event: %s", exc)
            return
        if not isinstance(envelope, EventEnvelope) or not isinstance(envelope.data, QueueCreated | QueueDeleted):
            return
        data = envelope.data
        if isinstance(data, QueueDeleted):
            queue = queue_of(data.queue_id)
            notice = QueueNotice(queue_id=queue.queue_id, is_active=False,
                                 max_concurrent_jobs=queue.max_concurrent_jobs, deleted=True)
        else:
            queue = queue_of(data.queue_id)
            notice = QueueNotice(queue_id=queue.queue_id, is_active=data.is_active,
                                 max_concurrent_jobs=data.settings.max_concurrent_jobs)
        queue.on_queue(notice)
        touched[queue.queue_id] = queue
        dispatch_writes[queue_key(queue.queue_id, "queue")] = orjson.dumps(
            {"is_active": queue.is_active, "max_concurrent_jobs": queue.max_concurrent_jobs, "deleted": queue.deleted})
        cancel_jobs(queue.to_cancel(), now=clock.now())

    def cancel_jobs(jobs: list[TrackedJob], now: datetime) -> None:
        """Jobs left in a deleted queue (submitted while it was being deleted) end cancelled, not stuck."""
        if not jobs:
            return
        log.info("dispatcher: cancelling %d jobs of a deleted queue", len(jobs))
        cancellations.extend(CommandEnvelope.of(
            CancelJob(job_id=job.job_id), tenant=Tenant(organization_id=job.organization_id, project_id=job.project_id),
            issued_at=now, command_id=derived_id(job.job_id, f"queue-deleted-{job.version}"),
            actor="taskforge:queue-deleted", wants_reply=False,
        ) for job in jobs)

    def offer_ready_work(to_serve: Iterable[QueueDispatch], now: datetime) -> None:
        """Serve the parked lease requests of these queues: offers for those with ready work, empty answers
        for those whose time is up; the alarm then wakes the dispatcher when the next one's time is up."""
        offering = Offering()
        for queue in to_serve:
            if not queue.waiting:
                continue
            for request, offers in queue.serve_waiting(now):
                offering.commands.extend(offer_commands(request, offers, now))
                offering.answers.append(LeaseRequestDone(request_id=request.request_id, offered=len(offers)))
            if (deadline := queue.next_deadline()) is not None:
                deadlines.set_in((deadline - now).total_seconds())
        if offering.answers:
            offers_out.put(offering)

    # a parked request is answered at its deadline: whenever one is parked, the alarm is set for no later
    # than its time (every request parks through offer_ready_work, and the alarm's ring serves every queue)
    deadlines = Alarm(lambda: offer_ready_work(list(queues.values()), clock.now()))

    async def send_offers(offerings: list[Offering]) -> None:
        await asyncio.gather(send_packed(topics.job_commands, [c for o in offerings for c in o.commands]),
                             send_packed(topics.job_replies, [a for o in offerings for a in o.answers]))

    # offers and their answers go out in order, without holding up the dispatcher: an offer lives in memory
    # only (a crash forgets it, the request then times out and the job stays ready in the table)
    offers_out: Stages[Offering] = Stages([send_offers])

    @app.task
    async def send_offers_in_order() -> None:
        await offers_out.run()

    @every(app, settings.dispatch_interval_ms / 1000)
    async def dispatch_tick() -> None:
        """Every queue's parked requests, now and then: a safety net. Work becomes ready only through a record
        (a notice, a queue's change), which serves its queue at once, and each request's time is up at the
        alarm (``deadlines``)."""
        offer_ready_work(list(queues.values()), clock.now())

    def rebuild_dispatch() -> None:
        queues.clear()
        for key, value in dispatch_state.items():
            if KEY_SEPARATOR not in key:
                continue  # written before entries were keyed by queue; the queue's notices rebuild it
            try:
                restore_dispatch_entry(key, value)
            except (ValueError, KeyError, TypeError, ValidationError) as exc:  # orjson's errors are ValueErrors
                # one entry this build cannot read must not stop the start, which would fail again at every
                # restart; the job's next notice tracks it again
                log.error("dispatcher: the table entry %s cannot be read; skipped: %r", key.decode(errors="replace"),
                          exc)

    def restore_dispatch_entry(key: bytes, value: bytes) -> None:
        doc = orjson.loads(value)
        if key.endswith(b"/queue"):
            queue = queue_of(uuid.UUID(key.split(b"/", 1)[0].decode()))
            queue.on_queue(QueueNotice(queue_id=queue.queue_id, **doc))
        else:
            doc.pop("queue_id", None)  # entries written before the key was the only place of the queue id
            queue_id = uuid.UUID(key.split(KEY_SEPARATOR, 1)[0].decode())
            tracked = TrackedJob(**{**doc, "job_id": uuid.UUID(doc["job_id"]),
                                    "organization_id": uuid.UUID(doc["organization_id"]),
                                    "project_id": uuid.UUID(doc["project_id"]),
                                    "worker_id": uuid.UUID(doc["worker_id"]) if doc["worker_id"] else None})
            queue_of(queue_id).restore(tracked)

    # --- lost workers: their leases go back to the retry policy at once -----------------------
    watch = WorkerWatch()

    async def follow_workers(records: list[LogRecord], _positions: object) -> None:
        for record in records:
            if isinstance(record.envelope.data, WorkerStateChanged):
                watch.update(record.envelope.data.worker)

    app.add_dependency(FollowerService(TopicTail(settings, [topics.worker_events], follow_workers,
                                                 name="worker-watch")))

    @every(app, 1.0)
    async def release_leases_of_lost_workers() -> None:
        lost = set(watch.newly_lost(clock.now()))
        if not lost:
            return
        now = clock.now()
        commands = []
        for due in timers.leases_of(lost):  # this instance's leased jobs, without parsing every job it holds
            owned = held_job(str(due.job_id).encode())
            lease = owned.state.lease if owned is not None else None
            if owned is not None and lease is not None and lease.worker_id in lost:
                commands.append(CommandEnvelope.of(
                    ExpireLease(job_id=owned.state.job_id, lease_id=lease.lease_id, reason="worker_lost"),
                    tenant=owned.tenant, issued_at=now, command_id=derived_id(lease.lease_id, "worker-lost"),
                    actor="taskforge:worker-watch", wants_reply=False,
                ))
        if commands:
            log.warning("releasing %d leases of %d lost workers", len(commands), len(lost))
            await send_packed(topics.job_commands, commands)

    @app.on_partitions_revoked.connect
    async def stop_archiving(sender: object, *_: object, **__: object) -> None:
        """Archives are decided here, not sent to the job's owner: from the moment partitions may move until the
        schedule is rebuilt for those this instance then owns, it decides none (another instance may own the
        job by then, and a job has one writer)."""
        archives.clear()

    @app.on_rebalance_complete.connect
    async def rebuild_timers(sender: object, **_: object) -> None:
        """The table now holds exactly this instance's partitions: their due times are ours."""
        archives.clear()
        timers.rebuild(noted_for_archive(readable_holdings()))  # one pass over the table, parsing each entry once
        archives.settle()
        rebuild_dispatch()
        hand_overs.clear()
        log.info("owner: %d timers, %d jobs to archive, %d queues dispatched after rebalance", len(timers),
                 len(archives), len(queues))

    @every(app, settings.timer_interval_ms / 1000)
    async def fire_due_timers() -> None:
        now = clock.now()
        commands = []
        for due in timers.pop_due(now):
            owned_job = held_job(str(due.job_id).encode())
            if owned_job is not None:
                commands.append(command_for(due, owned_job, now))
        archive_due_jobs(now)
        await send_packed(topics.job_commands, commands)

    return app
