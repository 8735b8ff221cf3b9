"""Read-model figures at scale, on this machine, against real processes over loopback.

1. Ten million job events (``--events``) of realistic lives go through Kafka: a stamped copy
   of a block made by the owners' own rules (``benchmarks.event_stream``), one tenant, a work
   queue and its dead-letter queue, spread over the weeks before now.
2. The API starts and its projector writes them all into ClickHouse (chdb): the projector's
   sustained rate is events over the time from start until ``/ready`` (caught up).
3. Query latency through the HTTP API, sequential, one keep-alive client: ``GET /jobs/{id}``
   of random jobs, ``GET /jobs`` filtered (queue and status) at page 1 and page 100,
   ``GET /metrics/queues/{id}`` for the last hour and the last day. Measured twice: right
   after the catch-up, while ClickHouse is still merging the parts it wrote, and again once
   its background merges have settled (``--settle-seconds``). The active parts per table and
   the merges running, from ``GET /metrics/system``, are recorded with each.
4. Append-to-queryable lag while 2,000 events/s are appended: after each append is
   acknowledged, ``GET /jobs/{id}`` of a job that append created. The row cannot exist before,
   so the read misses and waits at the read barrier until the projector has written everything
   appended before it: its time is an upper bound of the lag (it includes the HTTP round trip
   and two queries).
5. ``taskforge replay`` (API stopped): drop the read models and rebuild them from offset zero.

Run: ``make bench-read-models`` (ten million events: about half an hour here) or
``python -m benchmarks.read_models --events 1000000``. With ``--data-dir D`` the broker's and
ClickHouse's files stay in D, with what the run needs to find them again (``bench-state.json``);
``--data-dir D --reuse`` then skips steps 1 and 2 and measures the loaded store again (3 to 5) with the
code as it is now, which is how a change is checked at ten million events in minutes, not an hour.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from aiokafka import TopicPartition

from benchmarks.engine import cpu_seconds
from benchmarks.event_stream import StampedEvent, TemplateBlock
from benchmarks.foundation import machine, parse_overrides, percentile, publish
from infra.kafka.broker import LocalBroker
from producers.event_log import KafkaEventLog
from producers.topics import Topics, ensure_topics
from projections.rows import LogRecord
from projections.tail import TopicTail
from schemas.envelope import Tenant
from schemas.queue import QueueCreated
from taskforge.gc_pauses import LONG_PAUSE_MARKER, PAUSES, collect_on_schedule
from taskforge.settings import Settings
from tests.generated_log import GeneratedQueue, queue_events, queues_for
from tests.support import TEST_API_KEY, ApiProcess, StreamsProcess, free_port, scoped_settings, settings_env

BLOCK_JOBS = 2_000  # about 10,600 events a copy
SAMPLED_IDS = 5_000


def figures(samples: list[float], at: list[float] | None = None) -> dict[str, Any]:
    """p50, p99 and max; with ``at`` (each sample's start, seconds into the phase) also when the slowest 1%
    happened, in time order: a cluster is one stall, a spread is the steady state."""
    out: dict[str, Any] = {"samples": len(samples), "p50_ms": round(percentile(samples, 50) * 1000, 2),
                           "p99_ms": round(percentile(samples, 99) * 1000, 2), "max_ms": round(max(samples) * 1000, 2)}
    if at is not None:
        slowest = sorted(zip(samples, at, strict=True), reverse=True)[:max(1, len(samples) // 100)]
        out["slowest_percent_at"] = [f"{t:.1f}s: {took * 1000:.1f} ms" for took, t in sorted(slowest, key=lambda x: x[1])]
    return out


class Loader:
    """Appends stamped copies of one block; remembers a sample of the job ids it wrote."""

    def __init__(self, settings: Settings, tenant: Tenant,
                 queues: tuple[GeneratedQueue, GeneratedQueue] | None = None) -> None:
        self.settings = settings
        self.topics = Topics.from_settings(settings)
        self.tenant = tenant
        self.work, self.dead = queues or queues_for(tenant)
        self.rng = random.Random(11)
        self.job_ids: list[str] = []
        self.log = KafkaEventLog(settings)
        self.block: TemplateBlock | None = None

    async def start(self, copies: int, queues_too: bool = True) -> None:
        """Build the block so that ``copies`` copies end about an hour before now (and append its queues)."""
        start = datetime.now(UTC) - timedelta(seconds=BLOCK_JOBS * copies) - timedelta(hours=1)
        self.block = await asyncio.to_thread(TemplateBlock.build, self.tenant, self.work, self.dead, BLOCK_JOBS, start)
        await self.log.start()
        if queues_too:
            await self.log.append(self.topics.queue_events, queue_events(self.tenant, (self.work, self.dead), start))

    def copy(self, n: int) -> list[StampedEvent]:
        assert self.block is not None
        return self.block.copy(n, self.rng)

    async def append(self, records: list[StampedEvent]) -> None:
        await self.log.append(self.topics.job_events, records)

    def remember(self, records: list[StampedEvent], every: int) -> None:
        self.job_ids.extend(r.key.decode() for r in records[::every] if r.header_values[0] == b"JobSubmitted")

    async def load(self, events: int) -> dict[str, Any]:
        assert self.block is not None
        copies = -(-events // len(self.block))
        every = max(1, copies * len(self.block) // SAMPLED_IDS)
        began = time.monotonic()
        for n in range(copies):
            records = self.copy(n)
            await self.append(records)
            self.remember(records, every)
            if n % 50 == 0:
                done = (n + 1) * len(self.block)
                print(f"\rloaded {done:,} events, {done / (time.monotonic() - began):,.0f}/s", end="", flush=True)
        seconds = time.monotonic() - began
        total = copies * len(self.block)
        print(flush=True)
        return {"events": total, "seconds": round(seconds, 1), "events_per_second": round(total / seconds)}

    async def stop(self) -> None:
        await self.log.stop()


def storage(client: httpx.Client) -> dict[str, Any]:
    pipeline = client.get("/api/v1/metrics/system").json()["data"]["pipeline"]
    return {"active_parts": pipeline["clickhouse_active_parts"], "merges_running": pipeline["clickhouse_merges_running"]}


def settle(client: httpx.Client, limit_seconds: float) -> dict[str, Any]:
    """Wait until no merge has been running for two polls in a row, or the limit."""
    began = time.monotonic()
    quiet = 0
    while quiet < 2 and time.monotonic() - began < limit_seconds:
        time.sleep(5)
        quiet = quiet + 1 if storage(client)["merges_running"] == 0 else 0
    return {"waited_seconds": round(time.monotonic() - began, 1), "settled": quiet >= 2, **storage(client)}


def query_latency(client: httpx.Client, loader: Loader, samples: int) -> dict[str, Any]:
    rng = random.Random(3)
    now = datetime.now(UTC)
    queue = str(loader.work.queue_id)
    filtered = {"queue_id": queue, "status": "succeeded", "limit": 100}

    def timed(path: str, params: dict[str, Any] | None = None, count: int = samples) -> list[float]:
        took = []
        for _ in range(count):
            t0 = time.perf_counter()
            response = client.get(path, params=params)
            took.append(time.perf_counter() - t0)
            assert response.status_code == 200, response.text
        return took

    for _ in range(20):  # warm-up: connections, chdb's caches
        client.get("/api/v1/jobs", params=filtered)
    by_id: list[float] = []
    by_id_at: list[float] = []
    # this process's own collector pauses are in its measured times: reported beside them (the counter is
    # installed by the collection policy that run() adopts)
    paused_before, began = PAUSES.total_seconds, time.perf_counter()
    for job_id in rng.sample(loader.job_ids, min(samples * 5, len(loader.job_ids))):
        t0 = time.perf_counter()
        response = client.get(f"/api/v1/jobs/{job_id}")
        by_id.append(time.perf_counter() - t0)
        by_id_at.append(t0 - began)
        assert response.status_code == 200, response.text
    by_id_gc = PAUSES.total_seconds - paused_before
    first = client.get("/api/v1/jobs", params=filtered).json()["data"]
    return {
        "jobs_in_tenant": client.get("/api/v1/jobs", params={"limit": 1}).json()["data"]["pagination"]["total"],
        "succeeded_in_work_queue": first["pagination"]["total"],
        "get_job_by_id": {**figures(by_id, by_id_at), "bench_gc_pause_seconds": round(by_id_gc, 3)},
        "list_filtered_page_1": figures(timed("/api/v1/jobs", {**filtered, "page": 1})),
        "list_filtered_page_100": figures(timed("/api/v1/jobs", {**filtered, "page": 100})),
        "queue_metrics_last_hour": figures(timed(f"/api/v1/metrics/queues/{queue}", {
            "start": (now - timedelta(hours=1)).isoformat(), "end": now.isoformat()})),
        "queue_metrics_last_day": figures(timed(f"/api/v1/metrics/queues/{queue}", {
            "start": (now - timedelta(days=1)).isoformat(), "end": now.isoformat()})),
    }


async def lag_under_load(loader: Loader, base_url: str, rate: int, seconds: float) -> dict[str, Any]:
    """Append ``rate`` events/s in chunks of 100; after each acked chunk, read one of its jobs by id."""
    chunk = 100
    lags: list[float] = []
    when: list[float] = []  # each probe's append time, seconds into the phase, in the order of lags
    beyond_barrier = 0
    pending: list[StampedEvent] = []
    n = loader.rng.randrange(1_000_000)
    paused_before = PAUSES.total_seconds  # this process's own pauses delay the probes' answers: reported apart
    async with httpx.AsyncClient(base_url=base_url, headers={"Authorization": f"Bearer {TEST_API_KEY}"},
                                 timeout=30) as client:
        async def probe(job_id: str, appended: float) -> None:
            """Read until the row is there: a read that outlasts the API's read barrier answers 404 and is
            asked again, so a stall longer than the barrier is measured, not lost."""
            nonlocal beyond_barrier
            response = await client.get(f"/api/v1/jobs/{job_id}")
            if response.status_code == 404:
                beyond_barrier += 1
            while response.status_code == 404 and time.perf_counter() - appended < 60:
                response = await client.get(f"/api/v1/jobs/{job_id}")
            lags.append(time.perf_counter() - appended)
            when.append(appended - began)
            assert response.status_code == 200, response.text

        probes: list[asyncio.Task[None]] = []
        began = time.perf_counter()
        sent = 0
        while (elapsed := time.perf_counter() - began) < seconds:
            if sent > elapsed * rate:
                await asyncio.sleep(0.005)
                continue
            if len(pending) < chunk:
                pending.extend(loader.copy(n))  # the same hours again, with fresh ids
                n += 1
            records, pending = pending[:chunk], pending[chunk:]
            await loader.append(records)
            sent += len(records)
            # a job this chunk creates: its row cannot exist before the chunk, so the read must wait for it
            new_job = next((r for r in reversed(records) if r.header_values[0] == b"JobSubmitted"), None)
            if new_job is not None:
                probes.append(asyncio.create_task(probe(new_job.key.decode(), time.perf_counter())))
        await asyncio.gather(*probes)
        achieved = sent / (time.perf_counter() - began)
    return {"offered_events_per_second": rate, "achieved_events_per_second": round(achieved),
            "append_to_readable_by_id": figures(lags, when), "probes_beyond_the_read_barrier": beyond_barrier,
            "bench_gc_pause_seconds": round(PAUSES.total_seconds - paused_before, 3)}


def replay(settings: Settings) -> dict[str, Any]:
    began = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "taskforge.cli", "--log-level", "warning", "replay"],
                          env=settings_env(settings), capture_output=True, text=True, check=True)
    seconds = time.monotonic() - began
    summary = done.stdout.rsplit("\r", 1)[-1]
    print(summary, flush=True)
    replayed = re.search(r"replayed ([\d,]+) events", summary)
    events = int(replayed.group(1).replace(",", "")) if replayed else 0
    rows = dict(re.findall(r"^\s+(\w+): ([\d,]+) rows", summary, flags=re.M))
    return {"events": events, "seconds": round(seconds, 1), "events_per_second": round(events / seconds),
            "rows": {table: int(n.replace(",", "")) for table, n in rows.items()}}


_STATE = "bench-state.json"


def save_state(data_dir: Path, settings: Settings, tenant: Tenant, loader: Loader, load: dict[str, Any]) -> None:
    """What a later ``--reuse`` run needs to find this run's topics, database, tenant and jobs again."""
    (data_dir / _STATE).write_text(json.dumps({
        "kafka_port": settings.kafka_port, "controller_port": settings.kafka_controller_port,
        "topic_prefix": settings.topic_prefix, "clickhouse_database": settings.clickhouse_database,
        "organization_id": str(tenant.organization_id), "project_id": str(tenant.project_id),
        "job_ids": loader.job_ids, "load": load,
    }))


async def queues_in_log(settings: Settings, tenant: Tenant) -> tuple[GeneratedQueue, GeneratedQueue]:
    """The work and dead-letter queues an earlier run created, read back from the queue events."""
    work, dead = queues_for(tenant)  # their settings; the ids and names come from the log
    found: dict[str, GeneratedQueue] = {}

    async def collect(records: list[LogRecord], _: dict[TopicPartition, int]) -> None:
        for record in records:
            if isinstance(event := record.envelope.data, QueueCreated):
                kind = event.name.split("-", 1)[0]
                found[kind] = GeneratedQueue(event.queue_id, event.name, (work if kind == "work" else dead).settings)

    tail = TopicTail(settings, [Topics.from_settings(settings).queue_events], collect, name="bench-queues")
    await tail.start()
    try:
        if not await tail.catch_up(timeout=30):
            raise RuntimeError("the queue events could not be read back")
    finally:
        await tail.stop()
    return found["work"], found["dead"]


def bench_settings(data_dir: Path, state: dict[str, Any] | None, overrides: dict[str, str]) -> Settings:
    """The test scope's settings with the shipped defaults where the tests pin their own, and ``overrides``."""
    kept = {} if state is None else {"topic_prefix": state["topic_prefix"],
                                     "clickhouse_database": state["clickhouse_database"]}
    ports = (free_port(), free_port()) if state is None else (state["kafka_port"], state["controller_port"])
    shipped = {"clickhouse_pool_size": Settings.model_fields["clickhouse_pool_size"].default}
    return scoped_settings(data_dir, *ports, **{"clickhouse_url": None, "api_port": free_port(), "kafka_heap": "1g",
                                                "topic_partitions": 6, "kafka_publish_timeout_seconds": 60.0,
                                                **shipped, **kept, **overrides})


def api_log_lines(data_dir: Path) -> list[str]:
    return (data_dir / "api.log").read_text(errors="replace").splitlines()


async def run(events: int, samples: int, lag_seconds: float, settle_seconds: float, data_dir: Path,
              replay_too: bool = True, reuse: bool = False,
              overrides: dict[str, str] | None = None) -> dict[str, Any]:
    state = json.loads((data_dir / _STATE).read_text()) if reuse else None
    settings = bench_settings(data_dir, state, overrides or {})
    results: dict[str, Any] = {"machine": machine(), "events_requested": events, "overrides": overrides or {},
                               "clickhouse_pool_size": settings.clickhouse_pool_size}
    broker = LocalBroker(settings)
    await asyncio.to_thread(broker.start)
    await ensure_topics(settings, Topics.from_settings(settings))
    streams = StreamsProcess(settings, data_dir / "streams.log")
    api = ApiProcess(settings, data_dir / "api.log")
    streams.start()  # the identity owner records the bootstrap key's tenant
    loader: Loader | None = None
    collections: asyncio.Task[None] | None = None
    try:
        if state is None:
            await asyncio.to_thread(api.start, 120)
            with httpx.Client(base_url=api.base_url, headers={"Authorization": f"Bearer {TEST_API_KEY}"}) as client:
                me = client.get("/api/v1/auth/validate").json()["data"]
            tenant = Tenant(organization_id=uuid.UUID(me["organization_id"]), project_id=uuid.UUID(me["project_id"]))
            api.stop()
        else:
            tenant = Tenant(organization_id=uuid.UUID(state["organization_id"]),
                            project_id=uuid.UUID(state["project_id"]))

        loader = Loader(settings, tenant, None if state is None else await queues_in_log(settings, tenant))
        if state is not None:  # the lag phase's jobs must be new: an earlier run's lag phase drew from seed 11 too
            loader.rng = random.Random()
        await loader.start(copies=-(-events // (BLOCK_JOBS * 53 // 10)), queues_too=state is None)
        if state is None:
            results["load"] = await loader.load(events)
            save_state(data_dir, settings, tenant, loader, results["load"])
        else:
            loader.job_ids = state["job_ids"]
            results["load"] = {**state["load"], "reused": str(data_dir)}
        print(results["load"], flush=True)
        # the client's own collector pauses would count as the API's latency: it runs the API's policy
        collections = collect_on_schedule()

        began = time.monotonic()
        await asyncio.to_thread(api.start, 7200)  # ready once the projector reached the log's end
        seconds = time.monotonic() - began
        results["projector_catch_up"] = {"events": results["load"]["events"], "seconds": round(seconds, 1),
                                         "events_per_second": round(results["load"]["events"] / seconds),
                                         "api_cpu_seconds": round(cpu_seconds(api.process.pid), 1)}
        print(results["projector_catch_up"], flush=True)

        with httpx.Client(base_url=api.base_url, headers={"Authorization": f"Bearer {TEST_API_KEY}"},
                          timeout=30) as client:
            results["storage_after_catch_up"] = storage(client)
            print(results["storage_after_catch_up"], flush=True)
            results["queries"] = await asyncio.to_thread(query_latency, client, loader, samples)
            print(results["queries"], flush=True)
            if settle_seconds > 0:
                results["storage_settled"] = await asyncio.to_thread(settle, client, settle_seconds)
                print(results["storage_settled"], flush=True)
                results["queries_settled"] = await asyncio.to_thread(query_latency, client, loader, samples)
                print(results["queries_settled"], flush=True)
        log_lines_before = len(api_log_lines(data_dir))
        results["lag_at_2000_events_per_second"] = await lag_under_load(loader, api.base_url, 2_000, lag_seconds)
        during = api_log_lines(data_dir)[log_lines_before:]
        # the projector's own account of its slow live batches, and the collector's long pauses
        for key, marker in (("slow_projector_batches", "projector: a batch of"), ("long_gc_pauses", LONG_PAUSE_MARKER)):
            lines = [line for line in during if marker in line]
            results["lag_at_2000_events_per_second"][key] = {"count": len(lines), "last": lines[-5:]}
        print(results["lag_at_2000_events_per_second"], flush=True)
        api.stop()
        if replay_too:
            results["replay"] = await asyncio.to_thread(replay, settings)
    finally:
        if api.process is not None and api.process.poll() is not None and api.process.returncode not in (0, -15):
            # it died under the bench (stop() had not run yet): how, for the record; its log has the rest
            print(f"the API process exited with {api.process.returncode}; see {data_dir / 'api.log'}", flush=True)
        if collections is not None:
            collections.cancel()
        if loader is not None:
            await loader.stop()
        api.stop()
        streams.stop()
        await asyncio.to_thread(broker.stop)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--samples", type=int, default=200, help="requests per query kind (5x for GET /jobs/{id})")
    parser.add_argument("--lag-seconds", type=float, default=30.0)
    parser.add_argument("--settle-seconds", type=float, default=900.0,
                        help="how long to wait for ClickHouse's merges before measuring again; 0: measure once")
    parser.add_argument("--data-dir", type=Path, default=None, help="default: a temporary directory, removed after")
    parser.add_argument("--no-replay", action="store_true", help="skip step 5 (about 23 minutes at 10M events)")
    parser.add_argument("--reuse", action="store_true",
                        help="with --data-dir of an earlier run: skip loading and catch-up, measure steps 3 to 5 again")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a setting for the API and stream processors, e.g. clickhouse_pool_size=4 (repeatable; "
                             "default: the shipped defaults)")
    args = parser.parse_args()
    if args.reuse and args.data_dir is None:
        parser.error("--reuse needs the --data-dir of an earlier run")
    try:
        overrides = parse_overrides(args.set)
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))

    def measure(data_dir: Path) -> None:
        publish("read_models", asyncio.run(run(args.events, args.samples, args.lag_seconds, args.settle_seconds,
                                               data_dir, replay_too=not args.no_replay, reuse=args.reuse,
                                               overrides=overrides)))

    if args.data_dir is not None:
        args.data_dir.mkdir(parents=True, exist_ok=True)
        measure(args.data_dir)
        return
    with tempfile.TemporaryDirectory(prefix="taskforge-read-models-") as tmp:
        measure(Path(tmp))


if __name__ == "__main__":
    main()
