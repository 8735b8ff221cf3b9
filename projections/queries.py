"""Read-model queries. Every one is scoped to the caller's tenant, by the table's primary-key prefix."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from projections.rows import job_from_doc
from projections.store import ClickHouseStore
from schemas.envelope import Tenant

_JOB_LIST_FIELDS = "id, queue_id, queue_name, job_type, status, priority, attempt_count, scheduled_for, created_at, updated_at"
_TENANT = "organization_id = {org:UUID} AND project_id = {project:UUID}"
# processing time: the worker's reported duration, or lease-to-completion when it reported none
_TOOK = "toFloat64(coalesce(duration_ms, toUInt64(greatest(0, dateDiff('millisecond', started_at, completed_at)))))"


class JobSort(StrEnum):
    """Orders of ``GET /jobs``. Each ends on the job id, so pages never overlap or skip a row."""

    NEWEST_FIRST = "-created_at"
    OLDEST_FIRST = "created_at"
    HIGHEST_PRIORITY_FIRST = "-priority"
    LOWEST_PRIORITY_FIRST = "priority"


_ORDER_BY = {
    JobSort.NEWEST_FIRST: "created_at DESC, id DESC",  # the table's own order, read backwards
    JobSort.OLDEST_FIRST: "created_at, id",
    JobSort.HIGHEST_PRIORITY_FIRST: "priority DESC, created_at, id",  # the order workers are handed them
    JobSort.LOWEST_PRIORITY_FIRST: "priority, created_at, id",
}


@dataclass(frozen=True)
class JobFilter:
    queue_id: uuid.UUID | None = None
    status: str | None = None
    job_type: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None


@dataclass(frozen=True)
class Page:
    rows: list[dict[str, Any]]
    total: int


def _of_tenant(row: dict[str, Any], tenant: Tenant) -> bool:
    return row["organization_id"] == str(tenant.organization_id) and row["project_id"] == str(tenant.project_id)


class JobQueries:
    def __init__(self, store: ClickHouseStore) -> None:
        self._store = store

    async def get(self, tenant: Tenant, job_id: uuid.UUID) -> dict[str, Any] | None:
        """The job's current row (ids and times as strings): one key lookup, another tenant's job is not found.

        The document carries its tenant, so the check is made on it here: filtering the table's tenant
        columns in the query costs a third of the lookup (two more columns read, a filter step).
        """
        doc = await self._store.scalar("SELECT doc FROM jobs_by_id WHERE id = {id:UUID}", {"id": job_id})
        if doc is None:
            return None
        row = job_from_doc(doc)
        return row if _of_tenant(row, tenant) else None

    async def get_many(self, tenant: Tenant, job_ids: list[uuid.UUID]) -> dict[str, dict[str, Any]]:
        """Several jobs' current rows in one key lookup, by id (as a string); another tenant's jobs are left out,
        as in ``get``."""
        if not job_ids:
            return {}
        found = await self._store.query("SELECT doc FROM jobs_by_id WHERE id IN {ids:Array(UUID)}", {"ids": job_ids})
        rows = (job_from_doc(r["doc"]) for r in found)
        return {row["id"]: row for row in rows if _of_tenant(row, tenant)}

    async def list(self, tenant: Tenant, where: JobFilter, page: int, limit: int,
                   sort: JobSort = JobSort.NEWEST_FIRST) -> Page:
        clauses = [_TENANT]
        params: dict[str, Any] = {"org": tenant.organization_id, "project": tenant.project_id}
        if where.queue_id is not None:
            clauses.append("queue_id = {queue_id:UUID}")
            params["queue_id"] = where.queue_id
        if where.status is not None:
            clauses.append("status = {status:String}")
            params["status"] = where.status
        if where.job_type is not None:
            clauses.append("job_type = {job_type:String}")
            params["job_type"] = where.job_type
        if where.created_after is not None:
            clauses.append("created_at >= {created_after:DateTime64(6, 'UTC')}")
            params["created_after"] = where.created_after
        if where.created_before is not None:
            clauses.append("created_at < {created_before:DateTime64(6, 'UTC')}")
            params["created_before"] = where.created_before
        condition = " AND ".join(clauses)
        # the total sums signs in the collapsing table (exact without FINAL); the page reads the time-ordered copy
        total = await self._store.scalar(f"SELECT sum(sign) FROM jobs WHERE {condition}", params)
        rows = await self._store.query(
            f"SELECT {_JOB_LIST_FIELDS} FROM jobs_by_time FINAL WHERE {condition} "
            f"ORDER BY {_ORDER_BY[sort]} LIMIT {{limit:UInt32}} OFFSET {{offset:UInt64}}",
            {**params, "limit": limit, "offset": (page - 1) * limit},
        )
        return Page(rows=rows, total=int(total or 0))

    async def history(self, tenant: Tenant, job_id: uuid.UUID) -> list[dict[str, Any]]:
        """The job's events in the order its owner decided them (each once, however often delivered)."""
        return await self._store.query(
            "SELECT event_id, event_type, sequence, occurred_at, actor, correlation_id, causation_id, data "
            f"FROM job_events FINAL WHERE {_TENANT} AND job_id = {{id:UUID}} ORDER BY sequence, kafka_offset",
            {"org": tenant.organization_id, "project": tenant.project_id, "id": job_id},
        )

    async def counts_by_queue(self, tenant: Tenant, queue_ids: list[uuid.UUID]) -> dict[uuid.UUID, dict[str, int]]:
        """Jobs per status for each queue (one query for all of them)."""
        if not queue_ids:
            return {}
        rows = await self._store.query(
            f"SELECT queue_id, status, sum(sign) AS n FROM jobs WHERE {_TENANT} "
            "AND queue_id IN {ids:Array(UUID)} GROUP BY queue_id, status HAVING n != 0",
            {"org": tenant.organization_id, "project": tenant.project_id, "ids": queue_ids},
        )
        counts: dict[uuid.UUID, dict[str, int]] = {q: {} for q in queue_ids}
        for row in rows:
            counts[row["queue_id"]][row["status"]] = int(row["n"])
        return counts

    async def active_by_worker(self, tenant: Tenant, worker_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
        """Jobs in processing per worker (a live lease each), for the listed workers."""
        if not worker_ids:
            return {}
        rows = await self._store.query(
            f"SELECT worker_id, sum(sign) AS n FROM jobs WHERE {_TENANT} AND status = 'processing' "
            "AND worker_id IN {ids:Array(UUID)} GROUP BY worker_id HAVING n != 0",
            {"org": tenant.organization_id, "project": tenant.project_id, "ids": worker_ids},
        )
        return {row["worker_id"]: int(row["n"]) for row in rows}

    async def queue_metrics(self, tenant: Tenant, queue_id: uuid.UUID, start: datetime, end: datetime) -> QueueMetrics:
        return await _queue_metrics(self._store, tenant, queue_id, start, end)

    async def jobs_by_queue_and_status(self, tenant: Tenant) -> dict[str, dict[str, int]]:
        rows = await self._store.query(
            f"SELECT queue_name, status, sum(sign) AS n FROM jobs WHERE {_TENANT} GROUP BY queue_name, status "
            "HAVING n != 0",
            {"org": tenant.organization_id, "project": tenant.project_id})
        counts: dict[str, dict[str, int]] = {}
        for row in rows:
            counts.setdefault(row["queue_name"], {})[row["status"]] = int(row["n"])
        return counts

    async def histogram_by_queue(self, tenant: Tenant, kind: str, buckets: tuple[int, ...]) -> dict[str, dict[str, Any]]:
        """Cumulative counts per bucket (milliseconds) of processing time (``processing``: succeeded jobs) or of
        submit-to-start (``waiting``: jobs leased once, from their due time to that lease)."""
        value, condition = {
            "processing": (_TOOK, "status = 'succeeded'"),
            "waiting": ("toFloat64(greatest(0, dateDiff('millisecond', greatest(created_at, "
                        "coalesce(scheduled_for, created_at)), started_at)))",
                        "attempt_count = 1 AND started_at IS NOT NULL"),
        }[kind]
        counts = ", ".join(f"countIf(v <= {b}) AS le_{b}" for b in buckets)
        rows = await self._store.query(
            f"SELECT queue_name, count() AS count, sum(v) AS sum, {counts} FROM "
            f"(SELECT queue_name, {value} AS v FROM jobs_by_time FINAL WHERE {_TENANT} AND {condition}) "
            "GROUP BY queue_name",
            {"org": tenant.organization_id, "project": tenant.project_id})
        return {row["queue_name"]: row for row in rows}


@dataclass(frozen=True)
class QueueMetrics:
    pending: int
    processing: int
    succeeded: int
    failed: int
    avg_ms: float | None
    p95_ms: float | None
    p99_ms: float | None


async def _queue_metrics(store: ClickHouseStore, tenant: Tenant, queue_id: uuid.UUID, start: datetime,
                         end: datetime) -> QueueMetrics:
    """Current depth, and what finished in [start, end): counts and processing-time percentiles.

    Counted by outcome event: a job that failed in the period and was retried later still failed in
    it, and its success, when it comes, counts in the period of that success. Processing time is the
    worker's reported duration, or lease-to-completion when it reported none. Failed counts jobs that
    ended failed or dead-lettered (not attempts that were retried automatically).
    """
    tenant_queue = {"org": tenant.organization_id, "project": tenant.project_id, "queue": queue_id}
    depth = {row["status"]: int(row["n"]) for row in await store.query(  # grouped by status: the counts projection
        f"SELECT status, sum(sign) AS n FROM jobs WHERE {_TENANT} AND queue_id = {{queue:UUID}} "
        "AND status IN ('pending', 'processing') GROUP BY status", tenant_queue)}
    rows = await store.query(  # the queue's outcomes in the period: one range of the outcomes table's key
        "SELECT countIf(outcome = 'succeeded') AS succeeded, countIf(outcome != 'succeeded') AS failed, "
        "count(took_ms) AS timed, avg(took_ms) AS avg_ms, quantileExact(0.95)(took_ms) AS p95_ms, "
        "quantileExact(0.99)(took_ms) AS p99_ms "
        f"FROM job_outcomes FINAL WHERE {_TENANT} AND queue_id = {{queue:UUID}} "
        "AND occurred_at >= {start:DateTime64(6)} AND occurred_at < {end:DateTime64(6)}",
        {**tenant_queue, "start": start, "end": end},
    )
    row = rows[0]
    timed = int(row["timed"]) > 0  # ClickHouse answers nan / 0 for an empty aggregate
    return QueueMetrics(depth.get("pending", 0), depth.get("processing", 0), int(row["succeeded"]),
                        int(row["failed"]), *((_number(row[k]) if timed else None) for k in ("avg_ms", "p95_ms", "p99_ms")))


def _number(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if number != number else round(number, 1)  # NaN: nothing to average


@dataclass(frozen=True)
class StorageHealth:
    active_parts: dict[str, int]
    merges_running: int


async def storage_health(store: ClickHouseStore) -> StorageHealth:
    """The read models' parts and merges: the platform's own figures, about no tenant."""
    parts = await store.query("SELECT table, toUInt64(count()) AS n FROM system.parts "
                              "WHERE database = currentDatabase() AND active GROUP BY table ORDER BY table")
    merges = await store.scalar("SELECT count() FROM system.merges WHERE database = currentDatabase()")
    return StorageHealth({row["table"]: int(row["n"]) for row in parts}, int(merges or 0))

