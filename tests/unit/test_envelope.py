"""The envelope's wire format: what goes on Kafka and what comes back."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

import orjson
import pytest
from pydantic import ValidationError

from schemas.envelope import (
    DomainEvent, EventEnvelope, Tenant, UndecodableEvent, UnknownEvent, decode, encode, register_event,
    register_upgrade, wrap,
)
from schemas.job import JobStatus, JobSubmitted
from schemas.queue import QueueCreated, QueueSettings

TENANT = Tenant(organization_id=uuid.uuid4(), project_id=uuid.uuid4())
NOW = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


def submitted(**overrides: Any) -> JobSubmitted:
    values: dict[str, Any] = dict(
        job_id=uuid.uuid4(), queue_id=uuid.uuid4(), queue_name="emails", job_type="send_email",
        payload={"to": "a@example.com", "n": [1, 2.5, None]}, priority=5, max_attempts=3, status=JobStatus.PENDING,
    )
    values.update(overrides)
    return JobSubmitted(**values)


def envelope_of(event: DomainEvent, **overrides: Any) -> EventEnvelope:
    kwargs: dict[str, Any] = dict(tenant=TENANT, aggregate_id=uuid.uuid4(), occurred_at=NOW, event_id=uuid.uuid4(),
                                  correlation_id="req-1", actor="api_key:tf_abcd")
    kwargs.update(overrides)
    return wrap(event, **kwargs)


def test_encode_then_decode_gives_the_same_envelope() -> None:
    original = envelope_of(submitted(scheduled_for=NOW, idempotency_key="k1"))
    decoded = decode(encode(original))
    assert decoded == original
    assert isinstance(decoded, EventEnvelope) and isinstance(decoded.data, JobSubmitted)


def test_the_wire_format_carries_every_envelope_field() -> None:
    event = submitted()
    env = envelope_of(event, causation_id=uuid.uuid4())
    doc = orjson.loads(encode(env))
    assert doc["event_type"] == "JobSubmitted"
    assert doc["schema_version"] == 1
    assert doc["organization_id"] == str(TENANT.organization_id)
    assert doc["project_id"] == str(TENANT.project_id)
    assert doc["aggregate_id"] == str(env.aggregate_id)
    assert doc["correlation_id"] == "req-1"
    assert doc["causation_id"] == str(env.causation_id)
    assert doc["occurred_at"].startswith("2026-01-02T03:04:05.678901")
    assert doc["data"]["payload"] == {"to": "a@example.com", "n": [1, 2.5, None]}
    assert doc["data"]["status"] == "pending"


def test_key_and_headers_identify_the_event_without_decoding() -> None:
    env = envelope_of(submitted())
    assert env.key == str(env.aggregate_id).encode()
    headers = dict(env.headers())
    assert headers == {
        "event_type": b"JobSubmitted", "schema_version": b"1", "event_id": str(env.event_id).encode(),
        "correlation_id": b"req-1",
    }


def test_envelopes_and_events_are_frozen() -> None:
    env = envelope_of(submitted())
    with pytest.raises(ValidationError):
        env.event_type = "Other"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        env.data.priority = 1  # type: ignore[attr-defined]


def test_unknown_event_type_is_skipped_not_fatal() -> None:
    raw = orjson.dumps({"event_type": "SomethingFromTheFuture", "schema_version": 1, "event_id": "e1", "data": {}})
    result = decode(raw)
    assert isinstance(result, UnknownEvent)
    assert result.event_type == "SomethingFromTheFuture"


def test_newer_version_of_a_known_event_is_skipped_not_fatal() -> None:
    doc = orjson.loads(encode(envelope_of(submitted())))
    doc["schema_version"] = 99
    result = decode(orjson.dumps(doc))
    assert result == UnknownEvent(event_type="JobSubmitted", schema_version=99, event_id=doc["event_id"])


@pytest.mark.parametrize("raw", [b"not json", b"[]", b"{}", orjson.dumps({"event_type": "JobSubmitted"})])
def test_garbage_is_undecodable(raw: bytes) -> None:
    with pytest.raises(UndecodableEvent):
        decode(raw)


def test_a_known_event_with_invalid_data_is_undecodable() -> None:
    doc = orjson.loads(encode(envelope_of(submitted())))
    doc["data"]["priority"] = 42
    with pytest.raises(UndecodableEvent):
        decode(orjson.dumps(doc))


@register_event
class _RenamedFieldEvent(DomainEvent):
    """A test event at version 2 whose v1 called `label` `name`."""

    event_type: ClassVar[str] = "TestRenamedField"
    schema_version: ClassVar[int] = 2
    label: str


@register_upgrade("TestRenamedField", 1)
def _v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    return {"label": data["name"]}


def test_older_versions_are_upgraded_on_decode() -> None:
    doc = orjson.loads(encode(envelope_of(_RenamedFieldEvent(label="x"))))
    doc["schema_version"] = 1
    doc["data"] = {"name": "old"}
    decoded = decode(orjson.dumps(doc))
    assert isinstance(decoded, EventEnvelope)
    assert decoded.schema_version == 2
    assert decoded.data == _RenamedFieldEvent(label="old")


def test_registering_two_classes_under_one_type_is_refused() -> None:
    class Clash(DomainEvent):
        event_type: ClassVar[str] = "JobSubmitted"

    with pytest.raises(RuntimeError):
        register_event(Clash)


def test_queue_created_round_trips_with_its_settings() -> None:
    event = QueueCreated(queue_id=uuid.uuid4(), name="q1", priority=2,
                         settings=QueueSettings(max_concurrent_jobs=3, dead_letter_queue_id=uuid.uuid4()))
    decoded = decode(encode(envelope_of(event)))
    assert isinstance(decoded, EventEnvelope) and decoded.data == event


def test_decode_knows_every_event_module_without_the_caller_importing_it() -> None:
    import subprocess
    import sys

    envelope = envelope_of(submitted())
    code = ("import sys; from schemas.envelope import decode; "
            f"e = decode(sys.stdin.buffer.read()); print(type(e).__name__, type(e.data).__name__)")
    result = subprocess.run([sys.executable, "-c", code], input=encode(envelope), capture_output=True, check=True)
    assert result.stdout.decode().split() == ["EventEnvelope", "JobSubmitted"]
