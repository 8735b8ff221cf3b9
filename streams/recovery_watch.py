"""A table recovery that makes no progress is started over, then ends the process for its supervisor to restart.

After every rebalance faust restores the tables of the partitions it was given by reading their
changelogs to the end, and no agent runs until it has. Once, in a full test run, a recovery after a
second instance joined received nothing from three changelog partitions for the whole 90 s the test
waited (``docs/job-engine.md``, issue 3 item 6), while the API answered 503 for those partitions'
jobs; faust-streaming has had such hangs after rebalances (its issues #21 and #74). Nothing waits
forever on a cause nobody found: a new process joins the group, is given partitions, and recovers
them from the changelogs and the committed offsets, losing nothing acknowledged (``streams.fatal``).

A stalled recovery is first started over in place, once: faust then seeks every changelog partition
again, which cured the hang of item 6 (records fetched and dropped after a rebalance; its cause is fixed
since in ``streams/transport.py``). Only a recovery that stalls again ends the process. The watch stays
for stalls of other causes.

Progress is what faust reports: whether it is recovering, and how many changelog records it has yet to
read. A recovery that ends, or reads a record, or starts over with another count, is not stalled. A broker
that stays unreachable through a recovery also ends the process at the limit; the supervisor's backoff
(``taskforge dev``: 1 s doubling to 30 s) paces the restarts until it is back.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RecoveryProgress:
    """What faust's recovery reports at one moment; ``remaining`` counts the active changelogs' records."""

    recovering: bool
    remaining: int


class RecoveryWatch:
    """How long the recovery has gone without progress, from readings taken on a clock the caller reads."""

    def __init__(self, limit_seconds: float) -> None:
        self.limit_seconds = limit_seconds
        self._last: RecoveryProgress | None = None
        self._since = 0.0

    def stalled_for(self, progress: RecoveryProgress, now: float) -> float:
        """Seconds since the last reading that differed (0 while not recovering)."""
        if not progress.recovering:
            self._last = None
            return 0.0
        if progress != self._last:
            self._last, self._since = progress, now
            return 0.0
        return now - self._since

    def stalled(self, progress: RecoveryProgress, now: float) -> bool:
        return self.stalled_for(progress, now) >= self.limit_seconds

    def start_over(self) -> None:
        """Count the limit again from the next reading, even one equal to the last (a recovery started over)."""
        self._last = None
