"""Job stats from a history alone: the recorded log's lives, read back as GET /jobs/{id}/stats reads them."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from projections.job_stats import job_stats
from tests.unit.test_recorded_log import records


def histories() -> dict[Any, list[dict[str, Any]]]:
    by_job: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for record in records():
        e = record.envelope
        if e.event_type.startswith("Job"):
            by_job[e.aggregate_id].append({"event_type": e.event_type, "occurred_at": e.occurred_at,
                                           "data": e.data.model_dump(mode="json")})
    return by_job


def test_every_life_reads_back_as_attempts_that_add_up() -> None:
    seen_outcomes = set()
    for job_id, history in histories().items():
        stats = job_stats(job_id, history)
        leases = sum(1 for e in history if e["event_type"] == "JobLeased")
        assert len(stats.attempts) == leases
        assert stats.failed_attempts == sum(1 for e in history if e["event_type"] == "JobAttemptFailed")
        assert stats.rejected_reports == sum(1 for e in history if e["event_type"] == "JobReportRejected")
        assert stats.rounds == 1 + sum(1 for e in history if e["event_type"] == "JobRetried")
        for attempt in stats.attempts:
            seen_outcomes.add((attempt.outcome, attempt.reason))
            if attempt.ended_at is not None:
                assert attempt.ended_at >= attempt.leased_at and attempt.duration_ms is not None
        ended = history[-1]["event_type"] in ("JobSucceeded", "JobFailed", "JobDeadLettered", "JobCancelled")
        assert (stats.total_ms is not None) == ended
        if stats.attempts:
            assert stats.wait_before_first_lease_ms == int(
                (stats.attempts[0].leased_at - stats.submitted_at).total_seconds() * 1000)
    assert {("succeeded", None), ("failed", "error"), ("failed", "timeout")} <= seen_outcomes


def test_a_succeeded_attempt_keeps_the_workers_duration() -> None:
    for job_id, history in histories().items():
        reported = [e["data"]["duration_ms"] for e in history if e["event_type"] == "JobSucceeded"]
        if reported:
            stats = job_stats(job_id, history)
            assert [a.duration_ms for a in stats.attempts if a.outcome == "succeeded"] == reported
            return
    raise AssertionError("the recorded log has a succeeded job")
