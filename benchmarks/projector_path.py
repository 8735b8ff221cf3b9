"""CPU per event of the projector, without Kafka: the read models' share of every job.

The engine bench reports the API and its projector as one process. This one takes the projector
alone: batches of job events, made by the owner's own rules (``handle_command``) and encoded as
the owner appends them, go through ``TopicTail._decoded`` and ``Projector._write`` into a real
ClickHouse (chdb, in a fresh directory), with the API process's collector policy
(``taskforge.gc_pauses``). The batches are shaped like the engine bench's at full load: a batch
every 0.5 s (``projector_min_batch_interval_ms``) holding ``--jobs-per-batch`` submissions and
the leases and completions of the jobs submitted ``--lag`` batches before (a job waits ~3.5 s
in the bench's queue), so a job's row is written twice, with a cancel row between.

Three figures per event, from the process's CPU clock (every thread, ClickHouse's included):
``decode`` (records to envelopes), ``rows`` (the projector's own thread: cached rows, rows per
table), ``inserts`` (the rest of the write: clickhouse-connect's serialization in the store's
threads and ClickHouse's insert work). Merges that run after a batch count in a later one.

Run: ``python -m benchmarks.projector_path`` (about ten seconds; with ``TMPDIR`` on tmpfs, as the engine
bench, or the inserts' figure wanders with the disk); ``--profile`` prints cProfile's top entries for the
projector's thread.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from benchmarks.foundation import machine, publish
from producers.topics import Topics
from projections.projector import Projector
from projections.schema import ensure_schema
from projections.store import ClickHouseStore
from schemas.commands import CommandEnvelope
from schemas.envelope import Tenant
from schemas.job import CompleteJob, LeaseJob, SubmitJob
from streams.job_owner import handle_command
from taskforge.gc_pauses import collect_on_schedule
from taskforge.settings import Settings

EVENTS_PER_JOB = 3  # submitted, leased, succeeded


def job_life(tenant: Tenant, queue_id: uuid.UUID, worker_id: uuid.UUID, submitted_at: datetime
             ) -> tuple[list[bytes], list[bytes]]:
    """One no-op job's events as its owner appends them: (its submission, its lease and completion)."""
    job_id, lease_id = uuid.uuid4(), uuid.uuid4()
    submitted = handle_command(None, CommandEnvelope.of(
        SubmitJob(job_id=job_id, queue_id=queue_id, queue_name="bench", job_type="noop", payload={}, priority=0,
                  queue_max_retries=3), tenant=tenant, issued_at=submitted_at, reply_with_job=False))
    leased = handle_command(submitted.owned, CommandEnvelope.of(
        LeaseJob(job_id=job_id, lease_id=lease_id, worker_id=worker_id), tenant=tenant,
        issued_at=submitted_at + timedelta(seconds=3.5)))
    done = handle_command(leased.owned, CommandEnvelope.of(
        CompleteJob(job_id=job_id, lease_id=lease_id, duration_ms=1), tenant=tenant,
        issued_at=submitted_at + timedelta(seconds=3.55), reply_with_job=False))
    return [e.encoded() for e in submitted.events], [e.encoded() for e in leased.events + done.events]


def event_batches(batches: int, jobs_per_batch: int, lag: int) -> list[list[bytes]]:
    """``batches + lag`` batches: each one's submissions, and the rest of the lives submitted ``lag`` before."""
    tenant = Tenant(organization_id=uuid.uuid4(), project_id=uuid.uuid4())
    queue_id, worker_id = uuid.uuid4(), uuid.uuid4()
    began = datetime.now(UTC)
    lives = [[job_life(tenant, queue_id, worker_id, began + timedelta(seconds=0.5 * b)) for _ in range(jobs_per_batch)]
             for b in range(batches + lag)]
    out = []
    for b, batch in enumerate(lives):
        values = [v for first, _ in batch for v in first]
        if b >= lag:
            values += [v for _, rest in lives[b - lag] for v in rest]
        out.append(values)
    return out


async def measure(batches: int, jobs_per_batch: int, lag: int, profile: bool) -> dict[str, Any]:
    prepared = event_batches(batches, jobs_per_batch, lag)
    with tempfile.TemporaryDirectory(prefix="taskforge-projector-path-") as tmp:
        settings = Settings(data_dir=Path(tmp))
        store = ClickHouseStore(settings)
        await store.open()
        topics = Topics.from_settings(settings)
        topic = topics.job_events
        projector = Projector(settings, store, topics)
        schedule = None
        try:
            await ensure_schema(store)
            schedule = collect_on_schedule()  # the API process's collector policy
            profiler = cProfile.Profile() if profile else None
            per_event: dict[str, list[float]] = {"decode": [], "rows": [], "inserts": []}
            offset = 0
            for index, values in enumerate(prepared):
                messages = []
                for value in values:
                    messages.append(ConsumerRecord(topic, 0, offset, 0, 0, b"", value, None, 0, len(value), ()))
                    offset += 1
                measured = index >= lag  # the first batches hold submissions only
                if measured and profiler is not None:
                    profiler.enable()
                began = time.process_time()  # every thread of the process, ClickHouse's included
                records = projector.tail._decoded(messages)
                decoded, thread_began = time.process_time(), time.thread_time()
                await projector._write(records, {TopicPartition(topic, 0): offset})
                written, thread_spent = time.process_time(), time.thread_time() - thread_began
                if profiler is not None:
                    profiler.disable()
                if measured:
                    per_event["decode"].append((decoded - began) / len(values) * 1e6)
                    per_event["rows"].append(thread_spent / len(values) * 1e6)
                    per_event["inserts"].append((written - decoded - thread_spent) / len(values) * 1e6)
            if profiler is not None:
                pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        finally:
            if schedule is not None:
                schedule.cancel()
            await store.close()
    median = {stage: round(statistics.median(v), 1) for stage, v in per_event.items()}
    total = sum(median.values())
    return {
        "machine": machine(), "batches": batches, "jobs_per_batch": jobs_per_batch, "lag_batches": lag,
        "cpu_us_per_event_median": median, "cpu_us_per_event": round(total, 1),
        "cpu_us_per_job": round(total * EVENTS_PER_JOB),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--jobs-per-batch", type=int, default=800, help="0.5 s of jobs at 1,600 jobs/s")
    parser.add_argument("--lag", type=int, default=7, help="batches between a job's submission and its completion")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    publish("projector_path", asyncio.run(measure(args.batches, args.jobs_per_batch, args.lag, args.profile)))


if __name__ == "__main__":
    main()
