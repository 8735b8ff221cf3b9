"""Metrics views (seed 000 §11), with Kafka and ClickHouse figures in place of the seed's database ones."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field


class Period(BaseModel):
    start: datetime
    end: datetime


class QueueMetricsStats(BaseModel):
    pending_jobs: int = Field(description="Now.")
    processing_jobs: int = Field(description="Now.")
    succeeded_jobs: int = Field(description="Jobs that succeeded within the period.")
    failed_jobs: int = Field(description="Jobs that ended failed or dead-lettered within the period.")
    avg_processing_time_ms: float | None
    p95_processing_time_ms: float | None
    p99_processing_time_ms: float | None
    throughput_per_minute: float = Field(description="Jobs that finished (succeeded or failed) per minute.")
    error_rate_percent: float = Field(description="Failed among finished, in percent.")


class QueueMetrics(BaseModel):
    queue_id: uuid.UUID
    name: str
    stats: QueueMetricsStats
    period: Period


class HostMetrics(BaseModel):
    cpu_usage_percent: float = Field(description="The host's CPU use since the previous call (or since boot).")
    process_cpu_seconds: float
    memory_usage_percent: float
    process_memory_bytes: int
    disk_usage_percent: float = Field(description="Of the file system holding the data directory.")
    load_average_1m: float
    uptime_seconds: float = Field(description="Of this API process.")


class PipelineMetrics(BaseModel):
    kafka_bootstrap_servers: str
    clickhouse_backend: str = Field(description="chdb (embedded) or http(s) (a server).")
    projector_lag_events: int | None = Field(description="Events in the log not yet in the read models; null if "
                                                         "Kafka did not answer in time.")
    clickhouse_active_parts: dict[str, int] = Field(
        description="Active data parts per read-model table. Every query reads each part's index, so many "
                    "parts (a large catch-up, merges behind) mean slower reads.")
    clickhouse_merges_running: int = Field(description="Background merges of read-model tables in progress.")


class QueueTotals(BaseModel):
    total: int
    active: int
    paused: int
    total_pending_jobs: int
    total_processing_jobs: int
    total_succeeded_jobs: int
    total_failed_jobs: int


class WorkerTotals(BaseModel):
    total: int
    online: int
    offline: int
    draining: int
    total_active_jobs: int


class SystemMetrics(BaseModel):
    system: HostMetrics
    pipeline: PipelineMetrics
    queues: QueueTotals
    workers: WorkerTotals
