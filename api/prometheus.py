"""Prometheus exposition (seed 000 §11.3), written by the maintained client library.

Two kinds of series:
- this API process's own traffic (requests by route template and status, their latency), kept
  in a registry of its own and updated by ``EdgeMiddleware``; routes are full templates
  (``/api/v1/jobs/{job_id}``, ``api.route_names``), never raw paths, so label sets stay bounded;
- the caller's tenant's jobs, read from the read models at scrape time: jobs per queue and
  status, processing time and submit-to-start histograms (the cumulative bucket counts are
  counted in ClickHouse, so they survive restarts and replicas agree), and the projector's lag.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

REQUESTS = CollectorRegistry(auto_describe=True)
REQUEST_COUNT = Counter("taskforge_api_requests", "API requests answered, by route template and status.",
                        ["method", "route", "status"], registry=REQUESTS)
REQUEST_SECONDS = Histogram("taskforge_api_request_seconds", "API request latency, by route template.",
                            ["method", "route"], registry=REQUESTS,
                            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
PROCESSING_BUCKETS_MS = (10, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 300_000)
SUBMIT_TO_START_BUCKETS_MS = (10, 25, 50, 100, 250, 500, 1_000, 5_000, 30_000, 60_000, 600_000)


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    REQUEST_COUNT.labels(method, route, str(status)).inc()
    REQUEST_SECONDS.labels(method, route).observe(seconds)


class _Snapshot(Collector):
    """Metric families computed before the scrape (the queries are async; collectors are not)."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = list(families)

    def collect(self) -> Iterator[Metric]:
        yield from self._families


def histogram(name: str, documentation: str, by_queue: dict[str, dict[str, Any]], buckets: tuple[int, ...]
              ) -> HistogramMetricFamily:
    """``by_queue[name]`` holds ``le_<bucket>`` cumulative counts, ``count`` and ``sum`` (milliseconds)."""
    family = HistogramMetricFamily(name, documentation, labels=["queue"])
    for queue, row in by_queue.items():
        cumulative = [(str(b / 1000), int(row[f"le_{b}"])) for b in buckets] + [("+Inf", int(row["count"]))]
        family.add_metric([queue], cumulative, sum_value=float(row["sum"]) / 1000)
    return family


def exposition(jobs_by_status: dict[str, dict[str, int]], processing: dict[str, dict[str, Any]],
               waiting: dict[str, dict[str, Any]], projector_lag: int | None) -> bytes:
    """The whole exposition: this process's traffic, then the tenant's job figures."""
    depth = GaugeMetricFamily("taskforge_queue_jobs", "Jobs in each queue by status, now.", labels=["queue", "status"])
    for queue, counts in jobs_by_status.items():
        for status, n in counts.items():
            depth.add_metric([queue, status], n)
    families: list[Metric] = [
        depth,
        histogram("taskforge_job_processing_seconds", "Processing time of succeeded jobs.", processing,
                  PROCESSING_BUCKETS_MS),
        histogram("taskforge_job_submit_to_start_seconds", "From submission (or the scheduled time) to the first "
                  "lease, of jobs that started.", waiting, SUBMIT_TO_START_BUCKETS_MS),
    ]
    if projector_lag is not None:
        families.append(GaugeMetricFamily("taskforge_projector_lag_events",
                                          "Events in the log not yet in the read models.", value=projector_lag))
    tenant = CollectorRegistry(auto_describe=False)
    tenant.register(_Snapshot(families))
    return generate_latest(REQUESTS) + generate_latest(tenant)
