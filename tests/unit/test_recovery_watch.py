"""``streams.recovery_watch``: when a table recovery counts as stalled. Pure; the clock is passed in."""

from __future__ import annotations

from streams.recovery_watch import RecoveryProgress, RecoveryWatch


def recovering(remaining: int) -> RecoveryProgress:
    return RecoveryProgress(recovering=True, remaining=remaining)


IDLE = RecoveryProgress(recovering=False, remaining=0)


def test_a_recovery_with_the_same_count_for_the_limit_is_stalled() -> None:
    watch = RecoveryWatch(limit_seconds=60)
    assert not watch.stalled(recovering(5), now=100.0)
    assert not watch.stalled(recovering(5), now=159.9)
    assert watch.stalled(recovering(5), now=160.0)
    assert watch.stalled_for(recovering(5), now=175.0) == 75.0


def test_every_record_read_starts_the_limit_again() -> None:
    watch = RecoveryWatch(limit_seconds=60)
    for second, remaining in enumerate(range(100, 0, -1)):  # one record a second for 100 s: slow, but moving
        assert not watch.stalled(recovering(remaining), now=second * 1.0)
    assert not watch.stalled(recovering(1), now=150.0)
    assert watch.stalled(recovering(1), now=159.0)


def test_a_recovery_that_starts_over_with_another_count_is_progress() -> None:
    watch = RecoveryWatch(limit_seconds=60)
    watch.stalled(recovering(5), now=0.0)
    assert not watch.stalled(recovering(9), now=59.0)  # a rebalance: the new assignment has more to read
    assert not watch.stalled(recovering(9), now=118.0)
    assert watch.stalled(recovering(9), now=119.0)


def test_not_recovering_is_never_stalled_and_forgets_the_last_recovery() -> None:
    watch = RecoveryWatch(limit_seconds=60)
    watch.stalled(recovering(5), now=0.0)
    assert not watch.stalled(IDLE, now=30.0)
    assert not watch.stalled(IDLE, now=1_000.0)
    # the next recovery happens to have the same count: its limit runs from its own first reading
    assert not watch.stalled(recovering(5), now=1_001.0)
    assert not watch.stalled(recovering(5), now=1_060.0)
    assert watch.stalled(recovering(5), now=1_061.0)


def test_recovering_with_nothing_left_to_read_still_counts() -> None:
    """faust stays in recovery until it has seen the end; stuck there with nothing left is stuck too."""
    watch = RecoveryWatch(limit_seconds=10)
    watch.stalled(recovering(0), now=0.0)
    assert watch.stalled(recovering(0), now=10.0)


def test_a_recovery_started_over_gets_the_whole_limit_again_even_with_the_same_count() -> None:
    watch = RecoveryWatch(limit_seconds=60)
    watch.stalled(recovering(5), now=0.0)
    assert watch.stalled(recovering(5), now=60.0)
    watch.start_over()
    assert not watch.stalled(recovering(5), now=61.0)
    assert not watch.stalled(recovering(5), now=120.0)
    assert watch.stalled(recovering(5), now=121.0)
