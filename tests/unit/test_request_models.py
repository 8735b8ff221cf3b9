"""Validation bounds of the request models (seed 001 §5.1) and queue settings."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from pydantic import ValidationError

from schemas.api.jobs import JobSubmitRequest, ScheduledJobSubmitRequest
from schemas.api.queues import QueueCreateRequest
from schemas.queue import QueueSettings

VALID_JOB: dict[str, Any] = {"queue_name": "emails", "job_type": "send_email", "payload": {"to": "x"}}


def test_a_minimal_job_gets_documented_defaults() -> None:
    job = JobSubmitRequest(**VALID_JOB)
    assert job.priority == 0
    assert job.max_attempts is None  # filled from the queue's max_retries at submission
    assert job.scheduled_for is None and job.idempotency_key is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("priority", -1), ("priority", 10), ("priority", "high"),
        ("max_attempts", 0), ("max_attempts", 11),
        ("queue_name", ""), ("queue_name", "q" * 101), ("queue_name", "has space"),
        ("job_type", ""), ("job_type", "t" * 101), ("job_type", "bad\nline"),
        ("payload", [1, 2]), ("payload", "text"), ("payload", None),
        ("scheduled_for", "2026-01-01T00:00:00"),  # no time zone
        ("scheduled_for", "tomorrow"),
        ("idempotency_key", ""), ("idempotency_key", "k" * 256),
        ("unexpected_field", 1),
    ],
)
def test_out_of_bounds_job_fields_are_refused(field: str, value: Any) -> None:
    with pytest.raises(ValidationError) as raised:
        JobSubmitRequest(**{**VALID_JOB, field: value})
    assert raised.value.errors()[0]["loc"][0] == field


@pytest.mark.parametrize(("field", "value"), [("priority", 0), ("priority", 9), ("max_attempts", 1), ("max_attempts", 10),
                                              ("queue_name", "q" * 100), ("job_type", "a.b:c/d-e_f")])
def test_bounds_themselves_are_accepted(field: str, value: Any) -> None:
    assert getattr(JobSubmitRequest(**{**VALID_JOB, field: value}), field) == value


def test_a_scheduled_submission_requires_its_time() -> None:
    with pytest.raises(ValidationError):
        ScheduledJobSubmitRequest(**VALID_JOB)
    assert ScheduledJobSubmitRequest(**VALID_JOB, scheduled_for="2030-01-01T09:00:00Z").scheduled_for is not None


def test_queue_defaults_match_the_seed() -> None:
    queue = QueueCreateRequest(name="email-processing-queue")
    assert queue.priority == 0
    assert queue.settings == QueueSettings(max_concurrent_jobs=10, max_retries=3, timeout_seconds=300,
                                           retry_delay_seconds=30, max_retry_delay_seconds=300, backoff_multiplier=2.0,
                                           dead_letter_queue_id=None)


@pytest.mark.parametrize(
    "body",
    [
        {"name": "q", "description": "d" * 501},
        {"name": "q", "priority": 10},
        {"name": "q", "settings": {"max_concurrent_jobs": 0}},
        {"name": "q", "settings": {"max_retries": 10}},
        {"name": "q", "settings": {"timeout_seconds": 0}},
        {"name": "q", "settings": {"backoff_multiplier": 0.5}},
        {"name": "q", "settings": {"retry_delay_seconds": 60, "max_retry_delay_seconds": 30}},
        {"name": "q", "settings": {"unknown_setting": 1}},
        {"name": "q", "project_id": "not-a-uuid"},
    ],
)
def test_out_of_bounds_queue_fields_are_refused(body: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        QueueCreateRequest(**body)


def test_queue_accepts_a_dead_letter_queue_id() -> None:
    dlq = uuid.uuid4()
    assert QueueCreateRequest(name="q", settings={"dead_letter_queue_id": str(dlq)}).settings.dead_letter_queue_id == dlq


def test_free_form_json_is_bounded_in_depth_and_integer_size() -> None:
    from pydantic import ValidationError

    from schemas.api.common import MAX_JSON_DEPTH
    from schemas.api.jobs import JobSubmitRequest
    from schemas.api.workers import CompleteRequest

    deep: dict = {}
    node = deep
    for _ in range(MAX_JSON_DEPTH - 1):
        node["a"] = {}
        node = node["a"]
    JobSubmitRequest(queue_name="q", job_type="t", payload=deep)  # exactly the limit
    node["a"] = {}
    with pytest.raises(ValidationError, match="deeper than"):
        JobSubmitRequest(queue_name="q", job_type="t", payload=deep)
    lease = "00000000-0000-4000-8000-000000000001"
    CompleteRequest(lease_id=lease, output=[2**64 - 1, -(2**63)])
    with pytest.raises(ValidationError, match="64 bits"):
        CompleteRequest(lease_id=lease, output=[[-50433419945114009600]])
