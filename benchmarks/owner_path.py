"""CPU per command of the job owner's decision path, without Kafka: the pure part of every job.

For N jobs, three rounds as in the engine bench (submit, lease, complete): each command is
decoded from its pack, the held job parsed from its table bytes, ``handle_command`` applied,
and its events, reply and notices encoded, the new holding encoded back. What the stream
processors do per command apart from the broker and faust, so a change to the decision path
(models, encoding) can be measured in seconds. ``--profile`` prints cProfile's top entries.

Run: ``python -m benchmarks.owner_path --jobs 2000``.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from benchmarks.foundation import machine, publish
from schemas.commands import CommandEnvelope, decode_commands
from schemas.envelope import Tenant
from schemas.ids import derived_id
from schemas.job import CompleteJob, LeaseJob, SubmitJob
from schemas.packs import packed
from streams.job_holding import holding_bytes, holding_of
from streams.job_owner import handle_command

PARTITIONS = 6
ROUNDS = ("submit", "lease", "complete")


def commands_of(round_: str, jobs: list[uuid.UUID], tenant: Tenant, queue_id: uuid.UUID,
                worker_id: uuid.UUID) -> list[CommandEnvelope]:
    """One round's commands, shaped as the API and the dispatcher send them."""
    now = datetime.now(UTC)
    out = []
    for job_id in jobs:
        offer_id = derived_id(job_id, "offer")
        lease_id = derived_id(offer_id, "lease")
        if round_ == "submit":
            out.append(CommandEnvelope.of(
                SubmitJob(job_id=job_id, queue_id=queue_id, queue_name="bench", job_type="noop", payload={},
                          priority=0, queue_max_retries=3),
                tenant=tenant, issued_at=now, reply_with_job=False))
        elif round_ == "lease":
            out.append(CommandEnvelope.of(LeaseJob(job_id=job_id, lease_id=lease_id, worker_id=worker_id),
                                          tenant=tenant, issued_at=now, command_id=offer_id))
        else:
            out.append(CommandEnvelope.of(CompleteJob(job_id=job_id, lease_id=lease_id, duration_ms=1),
                                          tenant=tenant, issued_at=now, reply_with_job=False))
    return out


def decide_round(records: list[bytes], table: dict[bytes, bytes]) -> int:
    """The owner's work for one round's records; returns the bytes it would append (so none is optimised away)."""
    written = 0
    for record in records:
        for command in decode_commands(record):
            assert isinstance(command, CommandEnvelope)
            stored = table.get(command.key)
            outcome = handle_command(holding_of(stored) if stored is not None else None, command)
            written += sum(len(e.encoded()) for e in outcome.events) + len(outcome.reply.encoded())
            written += sum(len(n.encoded()) for n in outcome.notices)
            assert outcome.owned is not None
            table[command.key] = held = holding_bytes(outcome.owned)
            written += len(held)
    return written


def run(jobs_count: int, passes: int, profile: bool) -> dict[str, Any]:
    tenant = Tenant(organization_id=uuid.uuid4(), project_id=uuid.uuid4())
    queue_id, worker_id = uuid.uuid4(), uuid.uuid4()
    per_round: dict[str, list[float]] = {r: [] for r in ROUNDS}
    profiler = cProfile.Profile() if profile else None
    for _ in range(passes):
        jobs = [uuid.uuid4() for _ in range(jobs_count)]
        table: dict[bytes, bytes] = {}
        for round_ in ROUNDS:
            records = [p.encoded() for p in packed(commands_of(round_, jobs, tenant, queue_id, worker_id), PARTITIONS)]
            if profiler is not None:
                profiler.enable()
            began = time.process_time()
            decide_round(records, table)
            per_round[round_].append((time.process_time() - began) / jobs_count * 1e6)
            if profiler is not None:
                profiler.disable()
    if profiler is not None:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(20)
    best = {r: round(min(v), 1) for r, v in per_round.items()}  # the least disturbed pass
    return {"machine": machine(), "jobs": jobs_count, "passes": passes,
            "cpu_us_per_command": best, "cpu_us_per_job": round(sum(best.values()), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=2_000)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    publish("owner_path", run(args.jobs, args.passes, args.profile))


if __name__ == "__main__":
    main()
