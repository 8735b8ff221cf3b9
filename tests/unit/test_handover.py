"""Each dispatch record is applied once, whether its owner hands it over first or the reader reads it first."""

from __future__ import annotations

from streams.handover import HandOvers


def test_a_record_handed_over_is_skipped_when_read_back() -> None:
    hand_overs = HandOvers()
    assert hand_overs.claim_for_hand_over(2, 10)
    assert not hand_overs.claim_for_reading(2, 10)
    assert hand_overs.claim_for_reading(2, 10)  # forgotten once read back: a re-read (after a seek) applies it


def test_a_record_already_read_is_not_handed_over() -> None:
    hand_overs = HandOvers()
    assert hand_overs.claim_for_reading(2, 10)
    assert not hand_overs.claim_for_hand_over(2, 10)
    assert not hand_overs.claim_for_hand_over(2, 9)
    assert hand_overs.claim_for_hand_over(2, 11)


def test_records_of_others_in_between_are_still_read() -> None:
    """The API's lease requests share the partition: a later notice handed over does not hide them."""
    hand_overs = HandOvers()
    assert hand_overs.claim_for_hand_over(0, 12)
    assert hand_overs.claim_for_reading(0, 11)
    assert not hand_overs.claim_for_reading(0, 12)
    assert hand_overs.claim_for_reading(0, 13)


def test_partitions_are_apart() -> None:
    hand_overs = HandOvers()
    assert hand_overs.claim_for_hand_over(0, 5)
    assert hand_overs.claim_for_reading(1, 5)
    assert not hand_overs.claim_for_reading(0, 5)


def test_clear_forgets_everything() -> None:
    hand_overs = HandOvers()
    hand_overs.claim_for_hand_over(0, 5)
    hand_overs.claim_for_reading(1, 7)
    hand_overs.clear()
    assert hand_overs.claim_for_reading(0, 5)
    assert hand_overs.claim_for_hand_over(1, 7)
