"""Foundation figures, measured on this machine against real processes over loopback.

- Kafka cold start (format + first metadata answer) and warm restart.
- Single-client POST /jobs: requests per second and latency, one keep-alive connection
  (each submission is decided by the job's owner in the stream processors).
- POST /jobs returned -> job listed by GET /jobs (which reads ClickHouse without a barrier).
- GET /jobs/{id} right after POST (the read-your-writes path).
- POST /jobs/batch of 1,000 jobs, sequential, one client: jobs per second.

Run: ``make bench`` (or ``python -m benchmarks.foundation --seconds 20``). Everything it
starts lives in a temporary directory on free ports and is stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from infra.kafka.broker import LocalBroker
from taskforge.settings import Settings
from tests.support import TEST_API_KEY, ApiProcess, StreamsProcess, free_port, scoped_settings, wait_sync


def percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        mem_kb = 0
    return f"{os.cpu_count()} cores ({model}), {mem_kb / 1024 / 1024:.0f} GiB RAM, {platform.system()} {platform.release()}"


def publish(name: str, results: dict[str, object]) -> None:
    """Print a benchmark's figures and keep them in ``bench-results/<name>.json``."""
    out = Path("bench-results")
    out.mkdir(exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def run(seconds: float, lag_samples: int) -> dict[str, object]:
    results: dict[str, object] = {"machine": machine()}
    with tempfile.TemporaryDirectory(prefix="taskforge-bench-") as tmp:
        data_dir = Path(tmp)
        settings = scoped_settings(data_dir, free_port(), free_port(), clickhouse_url=None, api_port=free_port(),
                                   kafka_heap="512m", topic_partitions=6, kafka_publish_timeout_seconds=5.0)
        broker = LocalBroker(settings)
        started = time.monotonic()
        broker.start()
        results["kafka_cold_start_s"] = round(time.monotonic() - started, 2)
        broker.stop()
        started = time.monotonic()
        broker.start()
        results["kafka_warm_start_s"] = round(time.monotonic() - started, 2)

        streams = StreamsProcess(settings, data_dir / "streams.log")
        api = ApiProcess(settings, data_dir / "api.log")
        try:
            streams.start()
            api.start()
            with httpx.Client(base_url=api.base_url, headers={"Authorization": f"Bearer {TEST_API_KEY}"},
                              timeout=10) as client:
                wait_sync(lambda: client.post(f"/api/v1/jobs/{uuid.uuid4()}/cancel").status_code == 404, timeout=90,
                          interval=0.5)
                assert client.post("/api/v1/queues", json={"name": "bench"}).status_code == 201
                body = {"queue_name": "bench", "job_type": "noop", "payload": {"n": 1}}
                for _ in range(50):  # warm-up: connections, JIT of the broker, chdb caches
                    client.post("/api/v1/jobs", json=body)

                latencies: list[float] = []
                deadline = time.monotonic() + seconds
                began = time.monotonic()
                while time.monotonic() < deadline:
                    t0 = time.perf_counter()
                    response = client.post("/api/v1/jobs", json=body)
                    latencies.append(time.perf_counter() - t0)
                    assert response.status_code == 201, response.text
                elapsed = time.monotonic() - began
                results["post_jobs_single_client"] = {
                    "requests": len(latencies), "seconds": round(elapsed, 1),
                    "rps": round(len(latencies) / elapsed, 1),
                    "p50_ms": round(percentile(latencies, 50) * 1000, 2),
                    "p99_ms": round(percentile(latencies, 99) * 1000, 2),
                }

                batch = {"jobs": [{**body, "payload": {"n": i}} for i in range(1000)]}
                batch_times: list[float] = []
                deadline = time.monotonic() + seconds
                while time.monotonic() < deadline:
                    t0 = time.perf_counter()
                    response = client.post("/api/v1/jobs/batch", json=batch, timeout=30)
                    batch_times.append(time.perf_counter() - t0)
                    assert response.status_code == 200 and response.json()["data"]["submitted"] == 1000, response.text
                results["post_jobs_batch_1000_single_client"] = {
                    "batches": len(batch_times), "jobs_per_second": round(1000 * len(batch_times) / sum(batch_times)),
                    "p50_ms": round(percentile(batch_times, 50) * 1000, 1),
                    "p99_ms": round(percentile(batch_times, 99) * 1000, 1),
                }

                lags: list[float] = []
                for _ in range(lag_samples):
                    job_type = f"lag-{uuid.uuid4().hex[:8]}"
                    response = client.post("/api/v1/jobs", json={**body, "job_type": job_type})
                    returned = time.perf_counter()
                    job_id = response.json()["data"]["id"]
                    while True:
                        listed = client.get("/api/v1/jobs", params={"job_type": job_type, "limit": 1}).json()
                        if listed["data"]["jobs"] and listed["data"]["jobs"][0]["id"] == job_id:
                            lags.append(time.perf_counter() - returned)
                            break
                        if time.perf_counter() - returned > 10:
                            raise RuntimeError("job not listed within 10 s")
                results["post_to_listed"] = {
                    "samples": len(lags), "p50_ms": round(percentile(lags, 50) * 1000, 2),
                    "p99_ms": round(percentile(lags, 99) * 1000, 2), "max_ms": round(max(lags) * 1000, 2),
                }

                reads: list[float] = []
                for _ in range(lag_samples):
                    job_id = client.post("/api/v1/jobs", json=body).json()["data"]["id"]
                    t0 = time.perf_counter()
                    got = client.get(f"/api/v1/jobs/{job_id}")
                    reads.append(time.perf_counter() - t0)
                    assert got.status_code == 200
                results["get_by_id_right_after_post"] = {
                    "samples": len(reads), "p50_ms": round(percentile(reads, 50) * 1000, 2),
                    "p99_ms": round(percentile(reads, 99) * 1000, 2),
                    "mean_ms": round(statistics.mean(reads) * 1000, 2),
                }
        finally:
            api.stop()
            streams.stop()
            broker.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=15.0, help="length of the POST /jobs run")
    parser.add_argument("--lag-samples", type=int, default=200)
    args = parser.parse_args()
    publish("foundation", run(args.seconds, args.lag_samples))


if __name__ == "__main__":
    main()


def parse_overrides(pairs: list[str]) -> dict[str, str]:
    """``NAME=VALUE`` pairs naming fields of ``Settings``; the settings object validates the values."""
    overrides = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or name not in Settings.model_fields:
            raise argparse.ArgumentTypeError(f"--set {pair!r}: expected NAME=VALUE with NAME a setting")
        overrides[name] = value
    return overrides
