"""A realistic job-event log, made by the owners' own pure rules, without running the engine.

Each job lives a random life through ``streams.job_owner.handle_command``: submission (some
for later), cancellations, leases, successes, retryable and final failures, lease expiries,
dead-letter copies into another queue, and manual retries. The events are exactly what the
owners would append, so replaying them into the projections exercises every row rule.
Used by the replay test and by the read-model benchmark's generator.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from schemas.commands import CommandEnvelope
from schemas.envelope import EventEnvelope, Tenant, wrap
from schemas.job import (
    CancelJob, CompleteJob, ExpireLease, FailJob, JobCommand, JobPolicy, JobStatus, LeaseJob, PromoteJob, RetryJob,
    SubmitJob,
)
from schemas.queue import QueueCreated, QueueSettings
from streams.job_holding import OwnedJob
from streams.job_owner import handle_command


@dataclass(frozen=True)
class GeneratedQueue:
    queue_id: uuid.UUID
    name: str
    settings: QueueSettings


def queues_for(tenant: Tenant) -> tuple[GeneratedQueue, GeneratedQueue]:
    """A work queue whose dead letters go to a second queue."""
    dead = GeneratedQueue(uuid.uuid4(), f"dead-{uuid.uuid4().hex[:6]}", QueueSettings(max_retries=0))
    work = GeneratedQueue(uuid.uuid4(), f"work-{uuid.uuid4().hex[:6]}",
                          QueueSettings(max_retries=2, retry_delay_seconds=1, max_retry_delay_seconds=4,
                                        dead_letter_queue_id=dead.queue_id))
    return work, dead


def queue_events(tenant: Tenant, queues: tuple[GeneratedQueue, ...], at: datetime) -> list[EventEnvelope]:
    return [wrap(QueueCreated(queue_id=q.queue_id, name=q.name, priority=0, settings=q.settings), tenant=tenant,
                 aggregate_id=q.queue_id, occurred_at=at, event_id=uuid.uuid4(), sequence=1) for q in queues]


class _Life:
    """One job's owner, fed commands by a random script."""

    def __init__(self, tenant: Tenant, rng: random.Random, clock: datetime) -> None:
        self.tenant, self.rng, self.now = tenant, rng, clock
        self.owned: OwnedJob | None = None
        self.events: list[EventEnvelope] = []
        self.follow_ups: list[CommandEnvelope] = []

    def send(self, command: JobCommand, actor: str = "generator") -> bool:
        self.now += timedelta(milliseconds=self.rng.randint(1, 2_000))
        envelope = CommandEnvelope.of(command, tenant=self.tenant, issued_at=self.now, actor=actor)
        outcome = handle_command(self.owned, envelope)
        self.owned = outcome.owned
        self.events.extend(outcome.events)
        self.follow_ups.extend(outcome.follow_ups)
        return outcome.reply.accepted

    @property
    def status(self) -> JobStatus | None:
        return self.owned.state.status if self.owned is not None else None

    def run_attempts(self, job_id: uuid.UUID, worker: uuid.UUID) -> None:
        while self.status in (JobStatus.PENDING, JobStatus.SCHEDULED):
            if self.status is JobStatus.SCHEDULED:
                self.now += timedelta(seconds=5)
                self.send(PromoteJob(job_id=job_id), actor="taskforge:timer")
                continue
            lease_id = uuid.uuid4()
            self.send(LeaseJob(job_id=job_id, lease_id=lease_id, worker_id=worker))
            roll = self.rng.random()
            if roll < 0.6:
                self.send(CompleteJob(job_id=job_id, lease_id=lease_id, output={"ok": True},
                                      duration_ms=self.rng.randint(5, 5_000)))
            elif roll < 0.85:
                self.send(FailJob(job_id=job_id, lease_id=lease_id, error_message="Transient: boom", retryable=True))
            elif roll < 0.92:
                self.send(FailJob(job_id=job_id, lease_id=lease_id, error_message="Fatal", retryable=False))
            else:
                self.now += timedelta(minutes=10)
                self.send(ExpireLease(job_id=job_id, lease_id=lease_id, reason="timeout"), actor="taskforge:timer")
                self.send(CompleteJob(job_id=job_id, lease_id=lease_id))  # a late report: refused and recorded


def job_lives(tenant: Tenant, work: GeneratedQueue, dead: GeneratedQueue, jobs: int, seed: int,
              start: datetime | None = None) -> Iterator[EventEnvelope]:
    """The events of ``jobs`` job lives (and of their dead-letter copies), job by job."""
    rng = random.Random(seed)
    clock = start or datetime(2026, 11, 1, tzinfo=UTC)
    worker = uuid.uuid4()
    for n in range(jobs):
        life = _Life(tenant, rng, clock + timedelta(seconds=n))
        job_id = uuid.UUID(int=rng.getrandbits(128), version=4)
        later = rng.random() < 0.1
        life.send(SubmitJob(
            job_id=job_id, queue_id=work.queue_id, queue_name=work.name, job_type=rng.choice(["email", "report", "sms"]),
            payload={"n": n}, priority=rng.randint(0, 9), queue_max_retries=work.settings.max_retries,
            policy=JobPolicy.from_queue(work.settings, dead.name),
            scheduled_for=life.now + timedelta(hours=1) if later else None,
        ))
        if rng.random() < 0.08:
            life.send(CancelJob(job_id=job_id))
        life.run_attempts(job_id, worker)
        if life.status in (JobStatus.FAILED, JobStatus.DEAD_LETTERED) and rng.random() < 0.3:
            life.send(RetryJob(job_id=job_id))
            life.run_attempts(job_id, worker)
        yield from life.events
        for copy in life.follow_ups:  # the dead-letter copy lives in the other queue
            child = _Life(tenant, rng, life.now)
            outcome = handle_command(None, copy)
            child.owned = outcome.owned
            child.events.extend(outcome.events)
            if rng.random() < 0.5:
                child.run_attempts(copy.aggregate_id, worker)
            yield from child.events
