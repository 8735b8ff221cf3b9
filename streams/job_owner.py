"""The job owner's state: one entry per job, kept in a changelog-backed faust table.

Each entry remembers the log offset of the last event applied, so a redelivered event
(at-least-once processing) is recognised and changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping

from pydantic import BaseModel, ConfigDict

from schemas.envelope import EventEnvelope, UndecodableEvent, decode
from streams.deciders.job import IllegalTransition, JobState, evolve

log = logging.getLogger(__name__)


class OwnedJob(BaseModel):
    model_config = ConfigDict(frozen=True)

    offset: int
    state: JobState


def apply_job_record(table: MutableMapping[bytes, bytes], key: bytes, value: bytes, offset: int) -> bool:
    """Apply one job-events record to the owner's table. Returns whether anything changed."""
    try:
        envelope = decode(value)
    except UndecodableEvent as exc:
        log.error("job owner: skipping undecodable record at offset %d: %s", offset, exc)
        return False
    if not isinstance(envelope, EventEnvelope):
        return False  # an unknown type or newer version, already logged by decode
    stored = table.get(key)
    owned = OwnedJob.model_validate_json(stored) if stored is not None else None
    if owned is not None and offset <= owned.offset:
        return False  # redelivered
    try:
        state = evolve(owned.state if owned is not None else None, envelope.data)
    except IllegalTransition as exc:  # a history the rules forbid: keep the state, say so loudly
        log.error("job owner: refusing event at offset %d for job %s: %s", offset, key.decode(errors="replace"), exc)
        return False
    if state is None:
        return False
    table[key] = OwnedJob(offset=offset, state=state).model_dump_json().encode()
    return True
