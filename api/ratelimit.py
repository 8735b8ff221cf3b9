"""Sliding-window request budgets, in the memory of each API replica.

The window is the sliding-window counter of Cloudflare and others: the count of the
current fixed window plus the previous window's count weighted by how much of it still
overlaps the sliding hour. Two integers per bucket, O(1) per request, and at most a few
percent off an exact log of timestamps.

With several API replicas each keeps its own counts, so a client spread evenly across N
replicas gets up to N times the budget; docs/identity.md says how to size limits for
that (a shared store would cost a round trip per request).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

WINDOW_SECONDS = 3600.0


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset_at: int
    """Unix time when the current fixed window ends and the count starts falling."""
    retry_after: int
    """Seconds until one more request would be allowed (0 when allowed)."""


@dataclass
class _Bucket:
    window_start: float
    current: int = 0
    previous: int = 0


@dataclass
class SlidingWindowLimiter:
    window: float = WINDOW_SECONDS
    _buckets: dict[tuple[str, ...], _Bucket] = field(default_factory=dict)

    def _bucket(self, key: tuple[str, ...], now: float) -> _Bucket:
        start = now - (now % self.window)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(window_start=start)
        elif bucket.window_start != start:
            windows_passed = (start - bucket.window_start) / self.window
            bucket.previous = bucket.current if windows_passed == 1 else 0
            bucket.current = 0
            bucket.window_start = start
        return bucket

    def _estimate(self, bucket: _Bucket, now: float) -> float:
        overlap = 1.0 - (now - bucket.window_start) / self.window
        return bucket.previous * overlap + bucket.current

    def peek(self, key: tuple[str, ...], limit: int, now: float) -> Verdict:
        """Whether one more request would fit, without counting it."""
        bucket = self._bucket(key, now)
        used = self._estimate(bucket, now)
        reset_at = int(bucket.window_start + self.window)
        if used + 1 > limit:
            return Verdict(False, limit, 0, reset_at, self._retry_after(bucket, limit, now))
        return Verdict(True, limit, max(0, int(limit - used - 1)), reset_at, 0)

    def hit(self, key: tuple[str, ...], limit: int, now: float) -> Verdict:
        """Count one request against ``key`` if it fits in ``limit`` per window; a refused one is not counted."""
        verdict = self.peek(key, limit, now)
        if verdict.allowed:
            self._buckets[key].current += 1
        return verdict

    def count(self, key: tuple[str, ...], now: float) -> None:
        """Count one event whatever the limit (a failed login)."""
        self._bucket(key, now).current += 1

    def _retry_after(self, bucket: _Bucket, limit: int, now: float) -> int:
        """When the weighted previous window will have shrunk enough for one more request."""
        if bucket.current + 1 > limit or bucket.previous == 0:
            return max(1, math.ceil(bucket.window_start + self.window - now))
        # previous * (1 - (t - start)/window) + current + 1 <= limit, solved for t
        needed_overlap = (limit - bucket.current - 1) / bucket.previous
        t = bucket.window_start + (1.0 - needed_overlap) * self.window
        return max(1, math.ceil(t - now))

    def forget_idle(self, now: float) -> int:
        """Drop buckets untouched for two windows (they count nothing any more)."""
        idle = [k for k, b in self._buckets.items() if now - b.window_start >= 2 * self.window]
        for k in idle:
            del self._buckets[k]
        return len(idle)

    def __len__(self) -> int:
        return len(self._buckets)
