"""The owner's table entries: what a decision leaves is read back as it was, in pydantic's own JSON shape."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from schemas.commands import CommandEnvelope
from schemas.envelope import Tenant
from schemas.job import CompleteJob, FailJob, JobCommand, JobPolicy, JobStatus, LeaseJob, SubmitJob
from streams.job_holding import _HOLDING, OwnedJob, UnreadableHolding, holding_bytes, holding_of
from streams.job_owner import handle_command

TENANT = Tenant(organization_id=uuid.uuid4(), project_id=uuid.uuid4())
T0 = datetime(2026, 6, 1, 8, 0, 0, 123456, tzinfo=UTC)
JOB = uuid.uuid4()
LEASE = uuid.uuid4()

# What the owner's table held for a leased job when the holding was a pydantic model (written by f67d039).
EARLIER_BUILD = (
    b'{"state":{"job_id":"00000000-0000-0000-0000-000000000003","queue_id":"00000000-0000-0000-0000-000000000004",'
    b'"queue_name":"q","job_type":"t","payload":{"a":[1,2]},"status":"processing","priority":5,"max_attempts":3,'
    b'"policy":{"timeout_seconds":300,"retry_delay_seconds":30,"max_retry_delay_seconds":300,'
    b'"backoff_multiplier":2.0,"dead_letter_queue_id":"00000000-0000-0000-0000-000000000009",'
    b'"dead_letter_queue_name":"dlq"},"attempt_count":1,"round":1,"scheduled_for":null,"idempotency_key":null,'
    b'"dead_letter_of":null,"lease":{"lease_id":"00000000-0000-0000-0000-000000000006",'
    b'"worker_id":"00000000-0000-0000-0000-000000000007","attempt":1,"deadline":"2026-06-01T08:05:00.123456Z",'
    b'"leased_at":"2026-06-01T08:00:00.123456Z"},"last_lease_id":"00000000-0000-0000-0000-000000000006",'
    b'"last_report":null,"error_message":null,"output":null},"tenant":{"organization_id":'
    b'"00000000-0000-0000-0000-000000000001","project_id":"00000000-0000-0000-0000-000000000002"},"version":2,'
    b'"created_at":"2026-06-01T08:00:00.123456Z","updated_at":"2026-06-01T08:00:00.123456Z","recent_commands":'
    b'[{"command_id":"00000000-0000-0000-0000-000000000005","refusal":null,"message":null,"created":true},'
    b'{"command_id":"00000000-0000-0000-0000-000000000008","refusal":null,"message":null,"created":false}]}'
)


def decided(owned: OwnedJob | None, command: JobCommand, at: datetime) -> OwnedJob:
    outcome = handle_command(owned, CommandEnvelope.of(command, tenant=TENANT, issued_at=at))
    assert outcome.owned is not None
    return outcome.owned


def a_life() -> list[OwnedJob]:
    """Every holding of a job that is submitted with a policy, fails once, is retried and then succeeds."""
    policy = JobPolicy(timeout_seconds=60, dead_letter_queue_id=uuid.uuid4(), dead_letter_queue_name="dead")
    held = [decided(None, SubmitJob(job_id=JOB, queue_id=uuid.uuid4(), queue_name="q", job_type="t",
                                    payload={"to": "a@example.com", "n": [1, 2.5, None]}, priority=3,
                                    queue_max_retries=2, policy=policy, idempotency_key="k-1"), T0)]
    held.append(decided(held[-1], LeaseJob(job_id=JOB, lease_id=LEASE, worker_id=uuid.uuid4()), T0))
    held.append(decided(held[-1], FailJob(job_id=JOB, lease_id=LEASE, error_message="boom", error_type="E"),
                        T0 + timedelta(seconds=1)))
    return held


def test_every_holding_of_a_life_reads_back_as_it_was() -> None:
    for owned in a_life():
        assert holding_of(holding_bytes(owned)) == owned


def test_the_bytes_are_pydantics_own_json_for_the_same_holding() -> None:
    for owned in a_life():
        assert holding_bytes(owned) == _HOLDING.dump_json(owned)


def test_a_holding_written_by_the_earlier_build_reads_and_is_written_back_unchanged() -> None:
    owned = holding_of(EARLIER_BUILD)
    assert owned.state.status is JobStatus.PROCESSING and owned.state.lease is not None
    assert owned.state.lease.deadline == datetime(2026, 6, 1, 8, 5, 0, 123456, tzinfo=UTC)
    assert owned.state.policy.dead_letter_queue_name == "dlq" and owned.tenant.project_id == uuid.UUID(int=2)
    assert [c.created for c in owned.recent_commands] == [True, False]
    assert holding_bytes(owned) == EARLIER_BUILD


def test_a_decision_on_a_holding_read_back_is_the_decision_on_the_original() -> None:
    leased = a_life()[1]
    complete = CommandEnvelope.of(CompleteJob(job_id=JOB, lease_id=LEASE), tenant=TENANT, issued_at=T0)
    assert handle_command(holding_of(holding_bytes(leased)), complete) == handle_command(leased, complete)


@pytest.mark.parametrize("raw", [
    b"not json", b"{}", b"[]",
    EARLIER_BUILD.replace(b'"status":"processing"', b'"status":"lost"'),
    EARLIER_BUILD.replace(b'"deadline":"2026-06-01T08:05:00.123456Z"', b'"deadline":"2026-06-01T08:05:00"'),
    EARLIER_BUILD.replace(b'"job_id":"00000000-0000-0000-0000-000000000003"', b'"job_id":"three"'),
])
def test_an_entry_that_is_not_a_holding_is_unreadable(raw: bytes) -> None:
    with pytest.raises(UnreadableHolding):
        holding_of(raw)


def test_a_table_of_holdings_costs_about_their_size_in_memory() -> None:
    """Many holdings kept, as the owner's table keeps them, in a fresh process: the memory it grows by per
    holding is near the ~1.1 KB each is, not the ~8 KB of the buffers orjson first writes them into."""
    import subprocess
    import sys

    code = """
import resource, uuid
from datetime import UTC, datetime
from schemas.commands import CommandEnvelope
from schemas.envelope import Tenant
from schemas.job import SubmitJob
from streams.job_owner import handle_command
from streams.job_holding import holding_bytes
tenant = Tenant(organization_id=uuid.uuid4(), project_id=uuid.uuid4())
queue = uuid.uuid4()
def held():
    return handle_command(None, CommandEnvelope.of(SubmitJob(job_id=uuid.uuid4(), queue_id=queue, queue_name="q",
        job_type="t", payload={}, priority=0, queue_max_retries=2), tenant=tenant, issued_at=datetime.now(UTC))).owned
table = [holding_bytes(held()) for _ in range(1000)]
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
table += [holding_bytes(held()) for _ in range(40000)]
grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(grown * 1024 // 40000, len(table[-1]))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    per_holding, size = (int(x) for x in done.stdout.split())
    assert per_holding < 2.5 * size, f"{per_holding} bytes of memory per holding of {size} bytes"
