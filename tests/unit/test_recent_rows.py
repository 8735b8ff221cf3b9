"""The projector's cache of recently written job rows: bounded, least recently written out first."""

from __future__ import annotations

import gc
import uuid
from datetime import UTC, datetime

from projections.recent_rows import RecentRows
from projections.rows import JOB_COLUMNS, Row


def ids(n: int) -> list[uuid.UUID]:
    return [uuid.uuid4() for _ in range(n)]


def job_row(job_id: uuid.UUID, version: int = 1, worker: uuid.UUID | None = None) -> Row:
    row: Row = dict.fromkeys(JOB_COLUMNS)
    row.update(organization_id=uuid.uuid4(), project_id=uuid.uuid4(), id=job_id, queue_id=uuid.uuid4(),
               queue_name="work", job_type="send_email", payload='{"to": "a@b.c"}', status="processing",
               priority=5, max_attempts=3, attempt_count=1, worker_id=worker, created_at=datetime(2026, 11, 1, tzinfo=UTC),
               updated_at=datetime(2026, 11, 1, 0, 0, 1, tzinfo=UTC), version=version)
    return row


def test_a_row_comes_back_equal_ids_and_times_typed() -> None:
    cache = RecentRows(limit=10)
    job, worker = ids(2)
    with_worker, without = job_row(job, worker=worker), job_row(worker)
    cache.remember({job: with_worker, worker: without})
    assert cache.get(job) == with_worker and cache.get(worker) == without
    assert isinstance(cache.get(job)["queue_id"], uuid.UUID) and cache.get(worker)["worker_id"] is None


def test_the_collector_does_not_walk_the_cached_rows() -> None:
    cache = RecentRows(limit=1_000)
    cache.remember({job_id: job_row(job_id) for job_id in ids(1_000)})
    gc.collect()  # a pass untracks tuples of untracked values
    held = gc.get_referents(cache._rows)
    assert held and not any(gc.is_tracked(obj) for obj in held)


def test_past_the_limit_the_least_recently_written_rows_go_first() -> None:
    cache = RecentRows(limit=3)
    a, b, c, d = ids(4)
    cache.remember({a: job_row(a), b: job_row(b), c: job_row(c)})
    cache.remember({a: job_row(a, version=2)})  # a is written again: now the newest
    cache.remember({d: job_row(d)})
    assert len(cache) == 3
    assert cache.get(b) is None  # the oldest write went, not the whole cache
    assert [cache.get(j)["version"] for j in (a, c, d)] == [2, 1, 1]


def test_a_batch_larger_than_the_limit_keeps_its_last_rows() -> None:
    cache = RecentRows(limit=2)
    batch = ids(5)
    cache.remember({job_id: job_row(job_id, version=n) for n, job_id in enumerate(batch)})
    assert len(cache) == 2
    kept = [cache.get(job_id) for job_id in batch]
    assert kept[:3] == [None, None, None] and [row["version"] for row in kept[3:]] == [3, 4]


def test_clear_forgets_everything() -> None:
    cache = RecentRows(limit=10)
    (a,) = ids(1)
    cache.remember({a: job_row(a)})
    cache.clear()
    assert cache.get(a) is None and len(cache) == 0
