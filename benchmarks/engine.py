"""Job-engine figures, on this machine, against real processes over loopback.

- Idle CPU of each process for 5 s, workers long-polling and nothing submitted: polling and timers.
- Sustained end-to-end throughput of no-op jobs: batches of 1,000 submitted continuously,
  N SDK worker processes leasing and reporting; completions counted from the read model;
  CPU seconds of each process (Kafka, stream processors, API with projector, workers).
- Submit-to-start latency at a fixed rate: JobSubmitted to JobLeased, from the event log.
- Long-poll wake-up: an idle worker's handler starting after a submission returns.
- The host's speed before and after (``benchmarks.owner_path``, µs of CPU per job): hosts of the same
  kind differ twofold, so a figure is compared only with runs whose probes agree.

Run: ``make bench-engine`` or ``python -m benchmarks.engine --seconds 60 --workers 2``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import httpx
import orjson
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from benchmarks import owner_path
from benchmarks.foundation import machine, parse_overrides, percentile, publish
from infra.kafka.broker import LocalBroker
from producers.topics import Topics
from schemas.commands import CommandEnvelope, decode_commands
from schemas.envelope import EventEnvelope, decode
from schemas.job import SubmitJob
from taskforge.gc_pauses import LONG_PAUSE_MARKER
from taskforge.settings import Settings
from taskforge_sdk import ApiError, TaskForgeClient, Worker
from tests.support import (
    PRODUCTION_LIMITS, TEST_API_KEY, ApiProcess, StreamsProcess, free_port, scoped_settings, settings_env, wait_sync,
)

ROOT = Path(__file__).resolve().parents[1]
RATE_INTERVAL_SECONDS = 10.0
IDLE_SECONDS = 5.0
"""How long the parts are watched idle (workers long-polling, nothing submitted) before the load starts."""
HOST_PROBE_JOBS, HOST_PROBE_PASSES = 1_000, 3  # ~1 s of CPU per probe on the slower hosts
DEFAULT_BACKLOG = 6_000
"""Submitted jobs not yet succeeded above which the feeders pause: ~3.5 s of work at full load."""
SUBMIT_RETRY_SECONDS = 0.5
"""How long a feeder waits after a submission answered 503 before it submits again."""


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_workers(settings: Settings, base_url: str, queue: str, count: int, concurrency: int,
                  logs: Path) -> list[subprocess.Popen[bytes]]:
    workers = []
    for n in range(count):
        env = {**settings_env(settings), "TASKFORGE_URL": base_url, "TASKFORGE_API_KEY": TEST_API_KEY,
               "BENCH_QUEUE": queue, "BENCH_CONCURRENCY": str(concurrency), "BENCH_WORKER_NAME": f"bench-{n}"}
        workers.append(subprocess.Popen([sys.executable, "-m", "taskforge.cli", "--log-level", "warning", "worker",
                                         "benchmarks.noop_worker:worker"], env=env, cwd=ROOT,
                                        stdout=open(logs / f"worker-{n}.log", "wb"), stderr=subprocess.STDOUT))  # noqa: SIM115
    return workers


class BenchConfigError(ValueError):
    """Options under which the bench would measure nothing (a payload the API refuses)."""


class WorkerExited(RuntimeError):
    """A bench worker stopped before the measurements were done: its figures would be of fewer workers, or of
    none (a worker the API refused to register, for one: ``--concurrency`` above its limit)."""


def require_running(workers: list[subprocess.Popen[bytes]], logs: Path) -> None:
    for n, worker in enumerate(workers):
        if (code := worker.poll()) is not None:
            tail = "\n".join((logs / f"worker-{n}.log").read_text(errors="replace").splitlines()[-5:])
            raise WorkerExited(f"bench worker {n} exited (code {code}); the end of its log:\n{tail}")


async def count(client: TaskForgeClient, queue_id: str, status: str) -> int:
    listed = await client.request("GET", f"/jobs?queue_id={queue_id}&status={status}&limit=1")
    return listed["pagination"]["total"]


class SucceededCounter:
    """Counts ``JobSucceeded`` in the job-event log as the owners append them: the engine's own truth,
    independent of how far the read-model projector has got (that lag is reported on its own)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.count = 0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(Topics.from_settings(self._settings).job_events, group_id=None,
                                    bootstrap_servers=self._settings.bootstrap_servers,
                                    auto_offset_reset="earliest", enable_auto_commit=False)
        await consumer.start()

        async def follow() -> None:
            try:
                while True:
                    for messages in (await consumer.getmany(timeout_ms=200, max_records=20_000)).values():
                        self.count += sum(1 for m in messages if dict(m.headers).get("event_type") == b"JobSucceeded")
            finally:
                await consumer.stop()

        self._task = asyncio.create_task(follow())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def cpu_by_part(pids: dict[str, list[int]]) -> dict[str, float]:
    """CPU seconds used so far by each part's processes."""
    return {name: sum(cpu_seconds(p) for p in group) for name, group in pids.items()}


async def records_by_topic(settings: Settings) -> dict[str, int]:
    """How many records each topic of the run's broker holds (the end offsets of its partitions, summed)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers, group_id=None, enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    try:
        described = await admin.describe_topics(await admin.list_topics())
        partitions = [TopicPartition(topic["topic"], p["partition"]) for topic in described
                      for p in topic["partitions"]]
        ends = await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()
        await admin.close()
    totals: dict[str, int] = {}
    for tp, end in ends.items():
        name = tp.topic.split(".", 1)[-1]  # without the run's prefix
        totals[name] = totals.get(name, 0) + end
    return totals


def bench_payload(size: int) -> dict[str, Any]:
    """A job payload of about ``size`` bytes of JSON (``{}`` for 0): what the platform carries with every job,
    through the command, the event, the owner's table and the read model."""
    return {"data": "x" * max(0, size - 11)} if size > 0 else {}


def batch_size(item_bytes: int, max_request_bytes: int) -> int:
    """Jobs per submission: 1,000 (the API's limit), fewer when their JSON would exceed the request body's limit."""
    return max(1, min(1000, (max_request_bytes - 64) // (item_bytes + 1)))


async def idle_cpu(pids: dict[str, list[int]], seconds: float) -> dict[str, int]:
    """What each part costs with workers waiting and nothing submitted: the price of polling and timers.

    A loop that wakes every millisecond costs little alone, but it is paid under load as well; the
    identity owner's batch polling was ~8% of a core idle and ~4% of the stream processors' time at
    full load before it was removed.
    """
    start, began = cpu_by_part(pids), time.monotonic()
    await asyncio.sleep(seconds)
    elapsed = time.monotonic() - began
    return {name: round(100 * (used - start[name]) / elapsed) for name, used in cpu_by_part(pids).items()}


async def throughput(client: TaskForgeClient, settings: Settings, queue: dict[str, Any], seconds: float,
                     pids: dict[str, list[int]], warm_up: float, backlog: int, payload_bytes: int = 0
                     ) -> dict[str, Any]:
    """Saturating load for ``warm_up`` seconds unmeasured, then ``seconds`` measured.

    The feeders submit while fewer than ``backlog`` submitted jobs have not yet succeeded, so the
    queue never runs dry; each of the two may then add one more batch. Each job's payload is
    ``bench_payload(payload_bytes)``, and a batch holds 1,000 jobs or as many as fit in one request body.
    """
    stop = asyncio.Event()
    submitted = refused = 0
    succeeded = SucceededCounter(settings)
    await succeeded.start()

    async def submitter() -> None:
        nonlocal submitted, refused
        item = {"queue_name": queue["name"], "job_type": "noop", "payload": bench_payload(payload_bytes)}
        batch = [item] * batch_size(len(orjson.dumps(item)), settings.max_request_bytes)
        while not stop.is_set():
            if submitted - succeeded.count > backlog:  # keep the queue fed, not flooded
                await asyncio.sleep(0.05)
                continue
            try:
                result = await client.submit_batch(batch)
            except ApiError as exc:
                if exc.status != 503:
                    raise
                # Kafka did not acknowledge in time and nothing was recorded: an overloaded host answers so, and a
                # producer would try again (counted, and in the API's log; the SDK's workers do the same)
                refused += 1
                await asyncio.sleep(SUBMIT_RETRY_SECONDS)
                continue
            submitted += result["submitted"]

    feeders = [asyncio.create_task(submitter()) for _ in range(2)]
    await asyncio.sleep(warm_up)
    records_start = await records_by_topic(settings)
    cpu_start = cpu_by_part(pids)
    done_start, t0 = succeeded.count, time.monotonic()
    by_interval: list[int] = []  # whether the rate is sustained, or falls as the read model and the logs grow
    # and, when it falls, which part's CPU per job grew (ms of CPU per completed job in each interval)
    cpu_ms_by_interval: dict[str, list[float]] = {name: [] for name in pids}
    while (left := t0 + seconds - time.monotonic()) > 0:
        counted, began, cpu_began = succeeded.count, time.monotonic(), cpu_by_part(pids)
        await asyncio.sleep(min(RATE_INTERVAL_SECONDS, left))
        done_now, cpu_now = succeeded.count - counted, cpu_by_part(pids)
        by_interval.append(round(done_now / (time.monotonic() - began)))
        for name in pids:
            cpu_ms_by_interval[name].append(round(1000 * (cpu_now[name] - cpu_began[name]) / max(1, done_now), 3))
    done_end, t1 = succeeded.count, time.monotonic()
    cpu_end = cpu_by_part(pids)
    records_end = await records_by_topic(settings)
    stop.set()
    await asyncio.gather(*feeders)
    drain_deadline = time.monotonic() + 120
    while succeeded.count < submitted and time.monotonic() < drain_deadline:
        await asyncio.sleep(0.2)  # the latency phase must not wait behind this phase's backlog
    drained_at = time.monotonic()
    while await count(client, queue["id"], "succeeded") < succeeded.count and time.monotonic() < drain_deadline:
        await asyncio.sleep(0.2)
    await succeeded.stop()
    elapsed = t1 - t0
    return {
        "seconds": round(elapsed, 1),
        "jobs_completed": done_end - done_start,
        "jobs_per_second": round((done_end - done_start) / elapsed),
        f"jobs_per_second_by_{RATE_INTERVAL_SECONDS:g}s": by_interval,
        f"cpu_ms_per_job_by_{RATE_INTERVAL_SECONDS:g}s": cpu_ms_by_interval,
        "read_model_caught_up_after_s": round(time.monotonic() - drained_at, 1),
        "submissions_answered_503": refused,
        "cpu_percent_of_one_core": {name: round(100 * (cpu_end[name] - cpu_start[name]) / elapsed)
                                    for name in pids},
        # Kafka records appended per completed job, by topic (changelogs and consumer offsets included)
        "records_per_job": {topic: round((end - records_start.get(topic, 0)) / max(1, done_end - done_start), 2)
                            for topic, end in sorted(records_end.items()) if end > records_start.get(topic, 0)},
    }


async def submit_to_start(client: TaskForgeClient, settings: Settings, queue: dict[str, Any], rate: int,
                          seconds: float, warm_up: float, pids: dict[str, list[int]]) -> dict[str, Any]:
    """Submit ``rate`` jobs a second in ten batches a second; measure the jobs of the last ``seconds``.

    The first ``warm_up`` seconds run at the same rate unmeasured, for a look at steady state at
    ``rate`` apart from the saturating throughput phase before it. Four 60 s runs with 10 s of it were
    no better than without (``docs/figures.md``), so the default is none.

    Also each part's CPU per job meanwhile: at a fixed rate below saturation no part waits for a core
    the others hold, so this compares builds more steadily than the saturated rate (which moved ±7%
    between runs of one build on one host; docs/figures.md, runs 224-235).
    """
    ids: set[str] = set()
    per_tick = max(1, rate // 10)
    measured_from = time.monotonic() + warm_up
    deadline = measured_from + seconds
    cpu_start: dict[str, float] | None = None
    while time.monotonic() < deadline:
        tick = time.monotonic()
        if tick >= measured_from and cpu_start is None:
            cpu_start = cpu_by_part(pids)
        result = await client.submit_batch([{"queue_name": queue["name"], "job_type": "noop"}] * per_tick)
        if tick >= measured_from:
            ids.update(r["job"]["id"] for r in result["results"])
        await asyncio.sleep(max(0.0, 0.1 - (time.monotonic() - tick)))
    assert cpu_start is not None  # the loop ran past measured_from: seconds > 0
    cpu_ms_per_job = {name: round(1000 * (used - cpu_start[name]) / max(1, len(ids)), 3)
                      for name, used in cpu_by_part(pids).items()}
    await asyncio.sleep(3)
    submitted: dict[str, float] = {}
    decided: dict[str, float] = {}  # when the owner appended JobSubmitted (the record's CreateTime)
    leased: dict[str, float] = {}
    topics = Topics.from_settings(settings)
    commanded: dict[str, float] = {}  # when the API appended the job's SubmitJob (its pack's CreateTime)
    async for message in whole_topic(settings, topics.job_commands):
        for command in decode_commands(message.value):
            if isinstance(command, CommandEnvelope) and isinstance(command.data, SubmitJob):
                if (job_id := str(command.aggregate_id)) in ids:
                    commanded.setdefault(job_id, message.timestamp / 1000)
    async for message in whole_topic(settings, topics.job_events):
        job_id = message.key.decode()
        if job_id not in ids:
            continue
        envelope = decode(message.value)
        if isinstance(envelope, EventEnvelope):
            at = envelope.occurred_at.timestamp()
            if envelope.event_type == "JobSubmitted":
                submitted.setdefault(job_id, at)
                decided.setdefault(job_id, message.timestamp / 1000)
            elif envelope.event_type == "JobLeased":
                leased.setdefault(job_id, at)
    started = sorted((j for j in ids if j in leased and j in submitted), key=lambda j: leased[j] - submitted[j],
                     reverse=True)
    latencies = [leased[j] - submitted[j] for j in started]
    slowest = started[:max(1, len(started) // 100)]
    if not latencies:
        return {"rate_per_second": rate, "warm_up_s": warm_up, "jobs": len(ids), "started": 0,
                "note": "no job started in time"}
    return {"rate_per_second": rate, "warm_up_s": warm_up, "jobs": len(ids), "started": len(latencies),
            "cpu_ms_per_job": cpu_ms_per_job,
            **{f"p{pct}_ms": round(percentile(latencies, pct) * 1000, 1) for pct in (50, 90, 99)},
            "max_ms": round(max(latencies) * 1000, 1),
            # whether the slowest 1% were one stall (a few seconds of the phase) or spread over all of it
            "slowest_percent_within_s": round(max(submitted[j] for j in slowest)
                                              - min(submitted[j] for j in slowest), 1),
            # where the slowest 1% spent their time, mean ms of each leg: the API's request to its append of the
            # command pack; that append to the owner's append of JobSubmitted (Kafka, the owner's fetch and
            # batch); that append to the dispatch tick that offered the job (notice, dispatcher batch, tick)
            "slowest_percent_split_ms": {
                "to_command_append": mean_ms(commanded[j] - submitted[j] for j in slowest if j in commanded),
                "command_to_owner_append": mean_ms(decided[j] - commanded[j] for j in slowest
                                                   if j in decided and j in commanded),
                "owner_append_to_offer": mean_ms(leased[j] - decided[j] for j in slowest if j in decided)},
            # the same legs' medians over every job
            "median_split_ms": {
                "to_command_append": median_ms(commanded[j] - submitted[j] for j in started if j in commanded),
                "command_to_owner_append": median_ms(decided[j] - commanded[j] for j in started
                                                     if j in decided and j in commanded),
                "owner_append_to_offer": median_ms(leased[j] - decided[j] for j in started if j in decided)}}


async def whole_topic(settings: Settings, topic: str) -> AsyncIterator[ConsumerRecord]:
    """Every record of ``topic`` from its start, until none arrives for two seconds."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=settings.bootstrap_servers, group_id=None,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    try:
        while batch := await consumer.getmany(timeout_ms=2000, max_records=50_000):
            for messages in batch.values():
                for message in messages:
                    yield message
    finally:
        await consumer.stop()


def mean_ms(seconds: Iterable[float]) -> float | None:
    values = list(seconds)
    return round(1000 * statistics.fmean(values), 1) if values else None


def median_ms(seconds: Iterable[float]) -> float | None:
    values = list(seconds)
    return round(1000 * statistics.median(values), 1) if values else None


async def wake_up(base_url: str, client: TaskForgeClient, samples: int) -> dict[str, Any]:
    name = f"wake-{uuid.uuid4().hex[:6]}"
    await client.create_queue(name)
    started: asyncio.Queue[float] = asyncio.Queue()
    worker = Worker(base_url, TEST_API_KEY, queues=[name], concurrency=1, lease_wait=20)

    @worker.task("ping")
    async def ping(payload: dict[str, Any]) -> None:
        started.put_nowait(time.perf_counter())

    running = asyncio.create_task(worker.run_async())
    await asyncio.sleep(2)
    waits = []
    for _ in range(samples):
        await asyncio.sleep(0.3)  # the worker is parked in its long-poll
        t0 = time.perf_counter()
        await client.submit(name, "ping", {})
        waits.append(await asyncio.wait_for(started.get(), 20) - t0)
    worker.stop()
    await running
    return {"samples": samples, "p50_ms": round(percentile(waits, 50) * 1000, 1),
            "p99_ms": round(percentile(waits, 99) * 1000, 1)}


def long_gc_pauses(log_file: Path) -> dict[str, Any]:
    lines = [line for line in log_file.read_text(errors="replace").splitlines() if LONG_PAUSE_MARKER in line]
    return {"count": len(lines), "last": lines[-3:]}


async def run(seconds: float, worker_count: int, concurrency: int, streams_count: int,
              overrides: dict[str, str], warm_up: float, latency_warm_up: float, keep_logs: Path | None,
              backlog: int = DEFAULT_BACKLOG, payload_bytes: int = 0) -> dict[str, Any]:
    results: dict[str, Any] = {"machine": machine(), "workers": worker_count, "worker_concurrency": concurrency,
                               "stream_processors": streams_count, "overrides": overrides, "warm_up_s": warm_up,
                               "backlog": backlog, "payload_bytes": payload_bytes}
    probes = [host_speed()]
    with tempfile.TemporaryDirectory(prefix="taskforge-engine-") as tmp:
        data = Path(tmp)
        # the shipped rate budgets (one worker key, unthrottled) and timeouts; --set overrides any of these
        settings = scoped_settings(data, free_port(), free_port(), **{
            "clickhouse_url": None, "api_port": free_port(), "kafka_heap": "1g", "topic_partitions": 6,
            **PRODUCTION_LIMITS, **overrides})
        if payload_bytes > settings.max_payload_bytes:  # every submission would be refused: nothing to measure
            raise BenchConfigError(f"--payload-bytes {payload_bytes:,} is over the API's limit of "
                                   f"{settings.max_payload_bytes:,} (--set max_payload_bytes=N raises it)")
        broker = LocalBroker(settings)
        await asyncio.to_thread(broker.start)
        streams = [StreamsProcess(settings, data / f"streams-{n}.log") for n in range(streams_count)]
        api = ApiProcess(settings, data / "api.log")
        workers: list[subprocess.Popen[bytes]] = []
        try:  # everything started is stopped below, also when the API never comes up
            for instance in streams:  # one consumer group: the partitions (and their tables) are shared out
                instance.start()
            await asyncio.to_thread(api.start)
            with httpx.Client(base_url=api.base_url, headers={"Authorization": f"Bearer {TEST_API_KEY}"}) as sync:
                await asyncio.to_thread(wait_sync, lambda: sync.post(
                    f"/api/v1/jobs/{uuid.uuid4()}/cancel").status_code == 404, 90, 0.5)
            async with TaskForgeClient(api.base_url, TEST_API_KEY, timeout=60) as client:
                queue = await client.create_queue("bench", settings={"max_concurrent_jobs": 10_000,
                                                                      "timeout_seconds": 120})
                workers = start_workers(settings, api.base_url, "bench", worker_count, concurrency, data)
                await asyncio.sleep(3)
                require_running(workers, data)
                pids = {"kafka": [int(broker.pid_file.read_text())], "streams": [s.process.pid for s in streams],
                        "api_and_projector": [api.process.pid], "workers": [w.pid for w in workers],
                        # this process: the submitting client and the log reader that counts completions
                        "bench_client": [os.getpid()]}
                results["idle_cpu_percent_of_one_core"] = await idle_cpu(pids, IDLE_SECONDS)
                results["throughput"] = await throughput(client, settings, queue, seconds, pids, warm_up, backlog,
                                                         payload_bytes)
                require_running(workers, data)
                print(json.dumps(results["throughput"]), flush=True)
                results["long_poll_wake_up"] = await wake_up(api.base_url, client, 20)
                print(json.dumps(results["long_poll_wake_up"]), flush=True)
                results["submit_to_start"] = await submit_to_start(client, settings, queue, 500, 20, latency_warm_up,
                                                                   pids)
                require_running(workers, data)
            # the collector's long pauses in each process (logged by taskforge/gc_pauses.py): every one of them
            # stopped that process's whole event loop
            results["long_gc_pauses"] = {log_file.stem: long_gc_pauses(log_file)
                                         for log_file in [data / "api.log", *sorted(data.glob("streams-*.log"))]}
            # requests answered 503 because Kafka did not acknowledge in time (an overloaded run shows here first)
            results["answered_event_log_unavailable"] = (data / "api.log").read_text().count("the event log (Kafka)")
        finally:
            if keep_logs is not None:
                keep_logs.mkdir(parents=True, exist_ok=True)
                for log_file in data.glob("*.log"):
                    shutil.copy(log_file, keep_logs / log_file.name)
            for log_file in sorted(data.glob("worker-*.log"))[:1]:
                print(f"--- {log_file.name} (tail)\n" + "\n".join(log_file.read_text().splitlines()[-8:]), flush=True)
            for w in workers:
                w.terminate()
            for w in workers:
                try:
                    w.wait(timeout=30)
                except subprocess.TimeoutExpired:  # still stop the rest: left running, they took CPU from later runs
                    print(f"bench worker {w.pid} did not stop within 30 s of SIGTERM; killed", flush=True)
                    w.kill()
                    w.wait()
            api.stop()
            for instance in streams:
                instance.stop()
            await asyncio.to_thread(broker.stop)
    probes.append(host_speed())
    results["host_owner_path_us_per_job"] = {"before": probes[0], "after": probes[1]}
    return results


def host_speed() -> float:
    """The owner's decision path on this host now, in CPU µs per job (``benchmarks.owner_path``, no I/O).

    Hosts of the same kind differed twofold (156-160 against 300-420; docs/figures.md, runs 177-196), and one
    host's speed drifted within an hour, so every run records it, before and after: figures compare only between
    runs whose probes agree. The probe runs the code under test, so between two versions of the decision path
    its difference is the code's as well as the host's (alternate the runs).
    """
    return float(owner_path.run(HOST_PROBE_JOBS, HOST_PROBE_PASSES, profile=False)["cpu_us_per_job"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=200,
                        help="slots per worker, at most 1,000 (the API's limit on a worker's max_concurrent_jobs)")
    parser.add_argument("--streams", type=int, default=1, help="stream-processor instances (one consumer group)")
    parser.add_argument("--warm-up", type=float, default=5.0, metavar="SECONDS",
                        help="seconds of the saturating load before throughput is measured (default 5)")
    parser.add_argument("--latency-warm-up", type=float, default=0.0, metavar="SECONDS",
                        help="seconds at 500 jobs/s, unmeasured, before submit-to-start is measured (default 0: "
                             "right after the wake-up phase, as every figure in docs/figures.md)")
    parser.add_argument("--backlog", type=int, default=DEFAULT_BACKLOG, metavar="JOBS",
                        help=f"submitted jobs not yet succeeded above which the feeders pause (default "
                             f"{DEFAULT_BACKLOG:,}: ~3.5 s of work at full load)")
    parser.add_argument("--payload-bytes", type=int, default=0, metavar="BYTES",
                        help="each throughput job's payload, in bytes of JSON (default 0: an empty payload)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a setting for every process of the run (repeatable), e.g. owner_batch_linger_ms=3")
    parser.add_argument("--keep-logs", type=Path, default=None, metavar="DIR",
                        help="copy every process's log there at the end (the run's own directory is removed)")
    args = parser.parse_args()
    try:
        overrides = parse_overrides(args.set)
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    if args.payload_bytes < 0:
        parser.error("--payload-bytes must be 0 or more")
    try:
        results = asyncio.run(run(args.seconds, args.workers, args.concurrency, args.streams, overrides,
                                  args.warm_up, args.latency_warm_up, args.keep_logs, args.backlog,
                                  args.payload_bytes))
    except (WorkerExited, BenchConfigError) as exc:
        sys.exit(f"engine bench stopped: {exc}")
    publish("engine", results)


if __name__ == "__main__":
    main()
