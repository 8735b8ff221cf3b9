"""When a worker is gone: one rule for the API's offline status and the stream processors' lease release."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from schemas.worker import WorkerState
from streams.deciders.worker import is_gone, shown_status

T0 = datetime(2026, 9, 1, tzinfo=UTC)


def worker(status: str = "online", interval: int = 10) -> WorkerState:
    return WorkerState(worker_id=uuid.uuid4(), name="w", worker_type="t", queue_ids=[], job_types=[],
                       max_concurrent_jobs=1, heartbeat_interval_seconds=interval, metadata={},
                       status=status, registered_at=T0, last_heartbeat_at=T0)  # type: ignore[arg-type]


def test_three_missed_heartbeats_and_not_before() -> None:
    assert not is_gone(worker(interval=10), T0 + timedelta(seconds=30))
    assert is_gone(worker(interval=10), T0 + timedelta(seconds=30, microseconds=1))


def test_a_draining_worker_that_heartbeats_is_not_gone_and_a_deregistered_one_is() -> None:
    assert not is_gone(worker(status="draining"), T0 + timedelta(seconds=5))
    assert is_gone(worker(status="deregistered"), T0)


def test_the_shown_status_is_offline_only_for_a_silent_worker_that_did_not_deregister() -> None:
    silent = T0 + timedelta(seconds=31)
    assert shown_status(worker("draining"), T0 + timedelta(seconds=30)) == "draining"
    assert shown_status(worker("draining"), silent) == "offline"
    assert shown_status(worker("online"), silent) == "offline"
    assert shown_status(worker("deregistered"), silent) == "deregistered"
