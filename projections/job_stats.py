"""A job's timings and attempts, derived from its history alone (pure: the history is the input).

``GET /jobs/{id}/stats`` (seed 001) answers from this: how long the job waited before its first
lease, each attempt (who ran it, when, how it ended, how long it took), how many reports came
too late, and the whole time from submission to its end.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from schemas.api.jobs import AttemptStats, JobStats

_ENDINGS = {"JobSucceeded": "succeeded", "JobAttemptFailed": "failed"}
_TERMINAL = {"JobSucceeded", "JobFailed", "JobDeadLettered", "JobCancelled"}


def _ms(start: datetime, end: datetime) -> int:
    return max(0, int((end - start).total_seconds() * 1000))


def job_stats(job_id: Any, history: list[dict[str, Any]]) -> JobStats:
    """``history``: the job's events in order, each with ``event_type``, ``occurred_at`` and ``data`` (a dict)."""
    submitted_at = history[0]["occurred_at"]
    attempts: list[AttemptStats] = []
    open_attempt: dict[str, Any] | None = None
    round_number, rejected, finished_at = 1, 0, None
    for event in history:
        kind, at, data = event["event_type"], event["occurred_at"], event["data"]
        if kind == "JobRetried":
            round_number = data["round"]
        elif kind == "JobLeased":
            open_attempt = {"round": round_number, "attempt": data["attempt"], "worker_id": data["worker_id"],
                            "leased_at": at}
        elif kind in _ENDINGS and open_attempt is not None:
            reported = data.get("duration_ms")
            attempts.append(AttemptStats(
                **open_attempt, ended_at=at, outcome=_ENDINGS[kind], reason=data.get("reason"),
                error_message=data.get("error_message"),
                duration_ms=reported if reported is not None else _ms(open_attempt["leased_at"], at),
            ))
            open_attempt = None
        elif kind == "JobReportRejected":
            rejected += 1
        if kind in _TERMINAL:
            finished_at = at
        elif kind in ("JobRetried", "JobLeased"):
            finished_at = None
    if open_attempt is not None:
        attempts.append(AttemptStats(**open_attempt, ended_at=None, outcome="running", reason=None,
                                     error_message=None, duration_ms=None))
    first_lease = attempts[0].leased_at if attempts else None
    return JobStats(
        job_id=job_id, submitted_at=submitted_at, finished_at=finished_at, rounds=round_number,
        attempts=attempts, failed_attempts=sum(1 for a in attempts if a.outcome == "failed"),
        rejected_reports=rejected,
        wait_before_first_lease_ms=_ms(submitted_at, first_lease) if first_lease else None,
        processing_ms=sum(a.duration_ms or 0 for a in attempts),
        total_ms=_ms(submitted_at, finished_at) if finished_at else None,
    )
