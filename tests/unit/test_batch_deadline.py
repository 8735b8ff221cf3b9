"""The follower's batching rule: linger after the first records, pace batches under load, never hold a reader."""

import pytest

from projections.tail import batch_deadline


def test_after_a_quiet_spell_only_the_linger_applies() -> None:
    assert batch_deadline(100.0, linger=0.01, previous_began=50.0, min_interval=0.25,
                          reader_waiting=False) == pytest.approx(100.01)


def test_under_steady_load_the_interval_spaces_the_batches() -> None:
    # the previous batch began 30 ms ago: this one gathers until 250 ms after it
    assert batch_deadline(100.0, linger=0.01, previous_began=99.97, min_interval=0.25,
                          reader_waiting=False) == pytest.approx(100.22)


def test_a_waiting_reader_is_not_held_by_the_interval() -> None:
    assert batch_deadline(100.0, linger=0.01, previous_began=99.97, min_interval=0.25,
                          reader_waiting=True) == pytest.approx(100.01)


def test_no_interval_is_the_linger_alone() -> None:
    assert batch_deadline(100.0, linger=0.01, previous_began=99.999, min_interval=0.0,
                          reader_waiting=False) == pytest.approx(100.01)


def test_before_any_batch_only_the_linger_applies() -> None:
    assert batch_deadline(0.5, linger=0.01, previous_began=float("-inf"), min_interval=0.25,
                          reader_waiting=False) == pytest.approx(0.51)
