"""The projector's cache of recently written job rows: bounded, least recently written out first."""

from __future__ import annotations

import uuid

from projections.recent_rows import RecentRows


def ids(n: int) -> list[uuid.UUID]:
    return [uuid.uuid4() for _ in range(n)]


def test_past_the_limit_the_least_recently_written_rows_go_first() -> None:
    cache = RecentRows(limit=3)
    a, b, c, d = ids(4)
    cache.remember({a: {"v": 1}, b: {"v": 1}, c: {"v": 1}})
    cache.remember({a: {"v": 2}})  # a is written again: now the newest
    cache.remember({d: {"v": 1}})
    assert len(cache) == 3
    assert cache.get(b) is None  # the oldest write went, not the whole cache
    assert cache.get(a) == {"v": 2} and cache.get(c) == {"v": 1} and cache.get(d) == {"v": 1}


def test_a_batch_larger_than_the_limit_keeps_its_last_rows() -> None:
    cache = RecentRows(limit=2)
    batch = ids(5)
    cache.remember({job_id: {"n": n} for n, job_id in enumerate(batch)})
    assert len(cache) == 2
    assert [cache.get(job_id) for job_id in batch] == [None, None, None, {"n": 3}, {"n": 4}]


def test_clear_forgets_everything() -> None:
    cache = RecentRows(limit=10)
    (a,) = ids(1)
    cache.remember({a: {}})
    cache.clear()
    assert cache.get(a) is None and len(cache) == 0
