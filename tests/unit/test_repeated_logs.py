"""``taskforge/repeated_logs.py``: one record of each kind per window, and a count of those left out."""

from __future__ import annotations

import logging

from taskforge.repeated_logs import KAFKA_CLIENT_LOGGER, RepeatedRecords, quiet_repeated_kafka_client_errors


def _record(msg: str, *args: object, name: str = "aiokafka", level: int = logging.ERROR) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, args, None)


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_first_record_of_a_kind_passes_and_its_repeats_within_the_window_do_not() -> None:
    clock = _Clock()
    quiet = RepeatedRecords(window_seconds=10, clock=clock)
    assert quiet.filter(_record("Unable connect to node with id %s: %s", 1, "refused"))
    clock.now += 0.005
    # the same template with other arguments is the same kind
    assert not quiet.filter(_record("Unable connect to node with id %s: %s", 2, "refused"))
    clock.now += 9.9
    assert not quiet.filter(_record("Unable connect to node with id %s: %s", 1, "refused"))


def test_after_the_window_a_record_passes_and_says_how_many_were_left_out() -> None:
    clock = _Clock()
    quiet = RepeatedRecords(window_seconds=10, clock=clock)
    assert quiet.filter(_record("Unable to update metadata from %s", [1]))
    for _ in range(199):
        clock.now += 0.005
        assert not quiet.filter(_record("Unable to update metadata from %s", [1]))
    clock.now = 110.0
    passed = _record("Unable to update metadata from %s", [1])
    assert quiet.filter(passed)
    assert passed.getMessage() == "Unable to update metadata from [1] (199 more like this in the last 10 s not logged)"
    clock.now += 10
    alone = _record("Unable to update metadata from %s", [1])
    assert quiet.filter(alone) and alone.getMessage() == "Unable to update metadata from [1]"  # none left out


def test_kinds_are_told_apart_by_logger_level_and_template() -> None:
    quiet = RepeatedRecords(window_seconds=10, clock=_Clock())
    assert quiet.filter(_record("a %s", 1))
    assert quiet.filter(_record("b %s", 1))
    assert quiet.filter(_record("a %s", 1, level=logging.WARNING))
    assert quiet.filter(_record("a %s", 1, name="aiokafka.conn"))
    assert not quiet.filter(_record("a %s", 2))


def test_the_filter_is_installed_on_the_kafka_client_logger_once() -> None:
    logger = logging.getLogger(KAFKA_CLIENT_LOGGER)
    before = list(logger.filters)
    try:
        quiet_repeated_kafka_client_errors()
        quiet_repeated_kafka_client_errors()
        assert sum(isinstance(f, RepeatedRecords) for f in logger.filters) == 1
    finally:
        logger.filters[:] = before
