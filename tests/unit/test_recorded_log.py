"""A recorded event log (tests/data/recorded_log.jsonl) replayed into the projection rules gives known rows.

The log was made once by the owners' own rules (tests/generated_log.py, 15 lives: retries,
lease expiries with late reports, cancellations, dead letters, manual retries). The rows it must
give are in tests/data/recorded_log.rows.json; a change to the projection that changes any row
fails here, without a broker or a database. Regenerate the expectations only for an intended
change: ``python -m tests.unit.test_recorded_log`` rewrites them (review the diff).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from projections.rows import COLUMNS, LogRecord, Row, rows_for
from schemas.envelope import EventEnvelope, decode

DATA = Path(__file__).resolve().parents[1] / "data"
LOG = DATA / "recorded_log.jsonl"
EXPECTED = DATA / "recorded_log.rows.json"


def records() -> list[LogRecord]:
    found = []
    for line in LOG.read_bytes().splitlines():
        doc = orjson.loads(line)
        envelope = decode(orjson.dumps(doc["value"]))
        assert isinstance(envelope, EventEnvelope)
        found.append(LogRecord(envelope=envelope, topic=doc["topic"], partition=doc["partition"], offset=doc["offset"]))
    return found


def project(batch_size: int) -> dict[str, Any]:
    """Apply the rows rule in batches, as the projector does; return the final tables as JSON-able values."""
    current: dict[Any, Row] = {}
    history: dict[str, set[str]] = {}
    queues: dict[str, dict[str, Any]] = {}
    outcomes: dict[str, list[Any]] = {}
    all_records = records()
    for start in range(0, len(all_records), batch_size):
        tables, changed = rows_for(all_records[start:start + batch_size], current)
        current = {**current, **changed}
        for row in tables.get("job_events", []):
            event = dict(zip(COLUMNS["job_events"], row, strict=True))
            history.setdefault(str(event["job_id"]), set()).add(str(event["event_id"]))
        for row in tables.get("job_outcomes", []):
            outcome = dict(zip(COLUMNS["job_outcomes"], row, strict=True))
            outcomes[str(outcome["event_id"])] = [str(outcome["job_id"]), str(outcome["queue_id"]),
                                                  outcome["occurred_at"].isoformat(), outcome["outcome"],
                                                  outcome["took_ms"]]
        for row in tables.get("queues", []):
            queue = dict(zip(COLUMNS["queues"], row, strict=True))
            queues[str(queue["id"])] = {"name": queue["name"], "deleted": queue["deleted"]}
    jobs = {str(job_id): json.loads(orjson.dumps({k: row[k] for k in (
        "queue_name", "status", "priority", "max_attempts", "attempt_count", "error_message", "output", "worker_id",
        "duration_ms", "scheduled_for", "created_at", "started_at", "completed_at", "version")}))
        for job_id, row in current.items()}
    return {"jobs": jobs, "history": {k: len(v) for k, v in history.items()}, "queues": queues,
            "outcomes": outcomes}


@pytest.mark.parametrize("batch_size", [1, 7, 1_000])
def test_the_recorded_log_gives_the_recorded_rows(batch_size: int) -> None:
    assert project(batch_size) == json.loads(EXPECTED.read_text())


def test_the_recorded_rows_say_what_the_lives_were() -> None:
    expected = json.loads(EXPECTED.read_text())
    statuses = [job["status"] for job in expected["jobs"].values()]
    assert {"succeeded", "cancelled", "dead_lettered", "failed"} <= set(statuses)
    dead_queue = next(q["name"] for q in expected["queues"].values() if q["name"].startswith("dead-"))
    copies = [job for job in expected["jobs"].values() if job["queue_name"] == dead_queue]
    assert copies, "dead letters became jobs of the dead-letter queue"
    for job in expected["jobs"].values():
        assert job["attempt_count"] <= job["max_attempts"]
        finished = job["status"] in ("succeeded", "failed", "dead_lettered", "cancelled")
        assert (job["completed_at"] is not None) == finished
        if job["status"] == "succeeded":
            assert job["error_message"] is None and job["duration_ms"] is not None
    ends = [outcome for _, _, _, outcome, _ in expected["outcomes"].values()]
    assert sorted(set(ends)) == ["dead_lettered", "failed", "succeeded"], "every kind of outcome, once per event"
    finished = sum(1 for job in expected["jobs"].values() if job["status"] in ("succeeded", "failed", "dead_lettered"))
    assert len(ends) >= finished, "each job that ended so has an outcome (a manual retry can add another)"


if __name__ == "__main__":
    EXPECTED.write_text(json.dumps(project(7), indent=1, sort_keys=True) + "\n")
