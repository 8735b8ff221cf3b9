"""When a worker counts as lost."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from schemas.worker import WorkerState
from streams.worker_watch import WorkerWatch

T0 = datetime(2026, 9, 1, tzinfo=UTC)


def worker(last: datetime, status: str = "online", interval: int = 10, worker_id: uuid.UUID | None = None) -> WorkerState:
    return WorkerState(worker_id=worker_id or uuid.uuid4(), name="w", worker_type="t", queue_ids=[], job_types=[],
                       max_concurrent_jobs=1, heartbeat_interval_seconds=interval, metadata={},
                       status=status, registered_at=T0, last_heartbeat_at=last)  # type: ignore[arg-type]


def test_a_worker_is_lost_after_three_missed_heartbeats_and_reported_once() -> None:
    watch = WorkerWatch()
    w = worker(T0)
    watch.update(w)
    assert watch.newly_lost(T0 + timedelta(seconds=30)) == []
    assert watch.newly_lost(T0 + timedelta(seconds=31)) == [w.worker_id]
    assert watch.newly_lost(T0 + timedelta(seconds=60)) == [], "reported once"


def test_a_heartbeat_brings_it_back_and_an_old_state_does_not() -> None:
    watch = WorkerWatch()
    w = worker(T0)
    watch.update(w)
    watch.newly_lost(T0 + timedelta(seconds=31))
    watch.update(worker(T0 + timedelta(seconds=40), worker_id=w.worker_id))
    watch.update(worker(T0, worker_id=w.worker_id))  # a late, older record
    assert watch.newly_lost(T0 + timedelta(seconds=50)) == []
    assert watch.newly_lost(T0 + timedelta(seconds=71)) == [w.worker_id]


def test_a_deregistered_worker_is_lost_at_once() -> None:
    watch = WorkerWatch()
    w = worker(T0, status="deregistered")
    watch.update(w)
    assert watch.newly_lost(T0) == [w.worker_id]
