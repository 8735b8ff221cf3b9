"""The worker rules. Pure: the clock is an argument."""

from __future__ import annotations

from datetime import datetime, timedelta

from schemas.worker import WorkerState

MISSED_HEARTBEATS = 3


def is_gone(worker: WorkerState, now: datetime) -> bool:
    """Deregistered, or silent for ``MISSED_HEARTBEATS`` heartbeat intervals: its leases go back to the retry policy."""
    if worker.status == "deregistered":
        return True
    return now - worker.last_heartbeat_at > timedelta(seconds=MISSED_HEARTBEATS * worker.heartbeat_interval_seconds)


def shown_status(worker: WorkerState, now: datetime) -> str:
    """The status the API shows: a silent worker that never deregistered is ``offline``."""
    if worker.status != "deregistered" and is_gone(worker, now):
        return "offline"
    return worker.status
