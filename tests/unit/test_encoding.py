"""``schemas.encoding.model_json`` writes exactly what ``orjson.dumps(model.model_dump())`` wrote before.

Two halves: the models must not use anything that makes ``model_dump`` differ from their field values
(serializers, aliases, computed fields, extra fields, a base class's fields dumped for a subclass), which
is checked on every model of the messages and records (``schemas``, not the HTTP views of ``schemas.api``, which
the API renders with ``model_dump``: there a field's declared type is what a view shows, e.g. an API key list
never shows a created key's secret); and the bytes of real messages, from a job's
whole life through its owner, are compared, with arbitrary JSON in the fields typed ``Any``.
"""

from __future__ import annotations

import importlib
import pkgutil
import typing
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, SerializeAsAny

import schemas
from schemas.commands import CommandEnvelope, CommandReply
from schemas.dispatch import LeaseRequestDone, LeaseRequested, LiveJobsCount, LiveJobsQuery, QueueNotice
from schemas.encoding import model_json
from schemas.envelope import Tenant
from schemas.job import (
    CancelJob, CompleteJob, ExpireLease, ExtendLease, FailJob, JobPolicy, LeaseJob, PromoteJob, RetryJob, SubmitJob,
)
from schemas.queue import CreateQueue, QueueSettings
from streams.deciders.queue import decide as decide_queue
from streams.job_owner import handle_command

TENANT = Tenant(organization_id=uuid.uuid4(), project_id=uuid.uuid4())
T0 = datetime(2026, 12, 1, 8, 0, 0, 123456, tzinfo=UTC)


def schema_models() -> list[type[BaseModel]]:
    for module in pkgutil.walk_packages(schemas.__path__, "schemas."):
        importlib.import_module(module.name)
    found: list[type[BaseModel]] = []
    pending = [BaseModel]
    while pending:
        for sub in pending.pop().__subclasses__():
            pending.append(sub)
            module = sub.__module__
            if module.startswith("schemas.") and not module.startswith("schemas.api.") and sub not in found:
                found.append(sub)
    return found


def model_classes_in(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for arg in typing.get_args(annotation):
        yield from model_classes_in(arg)


MODELS = schema_models()


def test_the_models_are_found() -> None:
    names = {m.__name__ for m in MODELS}
    assert {"EventEnvelope", "CommandEnvelope", "CommandReply", "JobStatusNotice", "JobSubmitted",
            "QueueRecord"} <= names


@pytest.mark.parametrize("model", MODELS, ids=lambda m: f"{m.__module__}.{m.__name__}")
def test_a_model_dumps_as_its_field_values(model: type[BaseModel]) -> None:
    decorators = model.__pydantic_decorators__
    assert not decorators.field_serializers and not decorators.model_serializers
    assert not model.model_computed_fields
    assert model.model_config.get("extra") != "allow", "extra fields live outside __dict__"
    for name, info in model.model_fields.items():
        assert info.alias is None and info.serialization_alias is None, name
        as_any = any(isinstance(m, SerializeAsAny) for m in info.metadata)
        for cls in model_classes_in(info.annotation):
            # a subclass instance in a field of its base type is dumped with the base's fields only
            assert as_any or not cls.__subclasses__(), f"{model.__name__}.{name}: {cls.__name__} has subclasses"


def before(model: BaseModel) -> bytes:
    return orjson.dumps(model.model_dump())


def a_whole_life(payload: Any, output: Any) -> list[BaseModel]:
    """The commands and everything the owner writes for them, over a job's life with a retry, an expired lease, a
    dead letter, a manual retry, an extension, a completion and a refused cancel."""
    job_id, worker = uuid.uuid4(), uuid.uuid4()
    leases = [uuid.uuid4() for _ in range(3)]
    policy = JobPolicy(timeout_seconds=30, retry_delay_seconds=1, max_retry_delay_seconds=10, backoff_multiplier=2.0,
                       dead_letter_queue_id=uuid.uuid4(), dead_letter_queue_name="dead")
    life: list[tuple[Any, int, dict[str, Any]]] = [  # command, seconds after T0, envelope options
        (SubmitJob(job_id=job_id, queue_id=uuid.uuid4(), queue_name="emails", job_type="send", payload=payload,
                   priority=5, max_attempts=2, queue_max_retries=1, idempotency_key="k-1", policy=policy), 0, {}),
        (LeaseJob(job_id=job_id, lease_id=leases[0], worker_id=worker), 1, {}),
        (FailJob(job_id=job_id, lease_id=leases[0], error_message="boom \u2709", error_type="IOError"), 2, {}),
        (PromoteJob(job_id=job_id), 4, {}),  # the retry delay (1 s) has passed
        (LeaseJob(job_id=job_id, lease_id=leases[1], worker_id=worker), 5, {}),
        (ExpireLease(job_id=job_id, lease_id=leases[1]), 40, {}),  # past its 30 s: the last attempt
        (RetryJob(job_id=job_id), 41, {}),
        (LeaseJob(job_id=job_id, lease_id=leases[2], worker_id=worker), 42, {}),
        (ExtendLease(job_id=job_id, lease_id=leases[2], seconds=60), 43, {}),
        (CompleteJob(job_id=job_id, lease_id=leases[2], output=output, duration_ms=12), 44, {"reply_with_job": False}),
        (CancelJob(job_id=job_id), 45, {}),
    ]
    owned = None
    messages: list[BaseModel] = []
    for command, seconds, options in life:
        enveloped = CommandEnvelope.of(command, tenant=TENANT, issued_at=T0 + timedelta(seconds=seconds),
                                       correlation_id="req-1", actor="api_key:tf_x", **options)
        outcome = handle_command(owned, enveloped)
        owned = outcome.owned
        messages.extend([enveloped, *outcome.events, outcome.reply, *outcome.notices, *outcome.follow_ups])
    return messages


def test_a_job_life_covers_the_owner_messages() -> None:
    messages = a_whole_life({"to": "a@b.c"}, {"ok": True})
    kinds = {type(m).__name__ for m in messages} | {type(m.data).__name__ for m in messages if hasattr(m, "data")}
    assert {"CommandEnvelope", "EventEnvelope", "CommandReply", "JobStatusNotice", "JobSubmitted", "JobLeased",
            "JobAttemptFailed", "JobRetryScheduled", "JobBecameReady", "JobDeadLettered", "JobRetried",
            "JobLeaseExtended", "JobSucceeded", "SubmitJob", "CancelJob"} <= kinds
    replies = [m for m in messages if isinstance(m, CommandReply)]
    assert any(r.job is not None for r in replies) and any(r.refusal == "conflict" for r in replies)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@given(payload=st.dictionaries(st.text(max_size=8), JSON, max_size=5), output=JSON)
def test_owner_messages_encode_as_before(payload: dict[str, Any], output: Any) -> None:
    for message in a_whole_life(payload, output):
        assert model_json(message) == before(message), type(message).__name__


def test_dispatch_and_queue_messages_encode_as_before() -> None:
    queue_id, request_id = uuid.uuid4(), uuid.uuid4()
    create = CreateQueue(project_id=TENANT.project_id, queue_id=queue_id, name="emails", priority=2,
                         description="mail", settings=QueueSettings(max_concurrent_jobs=3))
    created = decide_queue(None, create, T0)
    messages: list[BaseModel] = [
        LeaseRequested(queue_id=queue_id, request_id=request_id, organization_id=TENANT.organization_id,
                       project_id=TENANT.project_id, worker_id=uuid.uuid4(), job_types=["a", "b"], max_jobs=10,
                       wait_until=T0 + timedelta(seconds=5), issued_at=T0),
        LeaseRequestDone(request_id=request_id, offered=3),
        LiveJobsQuery(queue_id=queue_id, request_id=request_id),
        LiveJobsCount(request_id=request_id, pending=1, scheduled=2, processing=3),
        QueueNotice(queue_id=queue_id, is_active=False, max_concurrent_jobs=4, deleted=True),
        CommandReply(command_id=uuid.uuid4(), accepted=False, refusal="conflict", message="no",
                     details={"status": "succeeded", "archived": True}),
        *created.events,
    ]
    for message in messages:
        assert model_json(message) == before(message), type(message).__name__
